import { WriteCoalescer } from '../../src/store/writeCoalescer';

/** A write that finishes when the test says so, recording what it carried. */
function controlledWrites() {
  const groups: number[][] = [];
  const finish: ((err?: Error) => void)[] = [];
  const write = (items: number[]) =>
    new Promise<void>((resolve, reject) => {
      groups.push(items);
      finish.push((err) => (err ? reject(err) : resolve()));
    });
  return { groups, finish, write };
}

const settled = () => new Promise((r) => setImmediate(r));

describe('WriteCoalescer', () => {
  it('writes a lone item at once', async () => {
    const w = controlledWrites();
    const coalescer = new WriteCoalescer(w.write, 10);
    const done = coalescer.submit(1);
    expect(w.groups).toEqual([[1]]);
    w.finish[0]();
    await expect(done).resolves.toBeUndefined();
  });

  it('gathers the items that arrive during a write into the next one, in order, up to the group size', async () => {
    const w = controlledWrites();
    const coalescer = new WriteCoalescer(w.write, 2);
    const all = [1, 2, 3, 4].map((n) => coalescer.submit(n));
    expect(w.groups).toEqual([[1]]);
    w.finish[0]();
    await settled();
    expect(w.groups).toEqual([[1], [2, 3]]);
    w.finish[1]();
    await settled();
    expect(w.groups).toEqual([[1], [2, 3], [4]]);
    w.finish[2]();
    await expect(Promise.all(all)).resolves.toHaveLength(4);
  });

  it('fails only the callers whose write failed, and goes on writing the others', async () => {
    const w = controlledWrites();
    const coalescer = new WriteCoalescer(w.write, 10);
    const first = coalescer.submit(1);
    const second = coalescer.submit(2);
    const third = coalescer.submit(3);
    w.finish[0](new Error('database unavailable'));
    await expect(first).rejects.toThrow('database unavailable');
    w.finish[1]();
    await expect(Promise.all([second, third])).resolves.toHaveLength(2);
    expect(w.groups).toEqual([[1], [2, 3]]);
    // Idle again: the next item is written at once.
    const fourth = coalescer.submit(4);
    expect(w.groups).toEqual([[1], [2, 3], [4]]);
    w.finish[2]();
    await expect(fourth).resolves.toBeUndefined();
  });
});
