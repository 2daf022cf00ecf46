import { CRM_LINK_APPLICATION, GraphTaskSource } from '../src/mail/graph/graphTaskSource';
import { StaleChangeKeyError } from '../src/sync/items/itemSource';
import { startGraphFake, type GraphFake } from './support/graphFake';
import { fakeSession, net, pullAll } from './support/graphItems';

// GraphTaskSource against the Graph fake: delta per To Do list, the CRM id in a linked resource, ETags.
let fake: GraphFake;

beforeAll(async () => {
  fake = await startGraphFake({ users: [] });
});
afterAll(async () => {
  await fake?.close();
});

function mailboxFor(address: string) {
  fake.addUser({ mail: address });
  return { source: new GraphTaskSource(fakeSession(fake, address)), box: fake.mailbox(address) };
}

const crmTask = { subject: 'Send the contract', description: 'Two copies', startsAt: '2026-05-04T07:00:00.000Z', dueAt: '2026-05-06T16:45:00.000Z', completedAt: null, status: 'open', priority: 'high' };

it('syncs the default To Do list: pages, changes, removals, and a new round marked reset after a lost delta token', async () => {
  const { source, box } = mailboxFor('tasks.pull@contoso.example');
  const defaultList = box.taskLists().find((l) => l.wellknownListName === 'defaultList')!;
  const listId = defaultList.id!;
  box.addTaskList('Groceries');
  expect(await source.containers()).toEqual([listId]);
  for (let n = 0; n < 110; n++) box.addTask(listId, { title: `Seeded ${n}` });

  const first = await pullAll(source, listId, null);
  expect(first.pages.length).toBeGreaterThan(1);
  const all = net(first.pages).changed;
  expect(all.size).toBe(110);
  const seeded3 = [...all.values()].find((t) => t.fields.subject === 'Seeded 3')!;
  expect(seeded3).toMatchObject({ crmId: null, fields: { status: 'open', priority: 'normal', dueAt: null } });

  box.updateTask(seeded3.remoteId, { status: 'completed' });
  const gone = [...all.values()].find((t) => t.fields.subject === 'Seeded 4')!;
  box.deleteTask(gone.remoteId);
  const second = await pullAll(source, listId, first.cursor);
  const changes = net(second.pages);
  expect([...changes.changed.keys()]).toEqual([seeded3.remoteId]);
  expect(changes.changed.get(seeded3.remoteId)!.fields.status).toBe('completed');
  expect(changes.changed.get(seeded3.remoteId)!.fields.completedAt).toEqual(expect.any(String));
  expect([...changes.removed]).toEqual([gone.remoteId]);

  fake.script.expireDeltaTokens({ code: 'syncStateNotFound' });
  const again = await pullAll(source, listId, second.cursor);
  expect(again.pages.every((p) => p.reset)).toBe(true);
  expect(net(again.pages).changed.size).toBe(109);
});

it('creates a task linked to its CRM id, reads it back the same, updates it only with its ETag, restamps it, deletes it', async () => {
  const { source, box } = mailboxFor('tasks.write@contoso.example');
  const [list] = await source.containers();
  const created = await source.create(list, crmTask, 'crm-task-1');
  expect(created.crmId).toBe('crm-task-1');
  const read = (await source.get(list, created.remoteId))!;
  expect(read).toMatchObject({ crmId: 'crm-task-1', changeKey: created.changeKey, fields: crmTask });
  // To Do dropped the time of the due date; the reminder kept it.
  const stored = box.listTasks(list)[0];
  expect(stored.dueDateTime?.dateTime).toBe('2026-05-06T00:00:00.0000000');
  const { pages } = await pullAll(source, list, null);
  expect(net(pages).changed.get(created.remoteId)).toMatchObject({ crmId: 'crm-task-1', fields: crmTask });

  box.updateTask(created.remoteId, { title: 'Renamed in To Do' });
  await expect(source.update(list, created.remoteId, created.changeKey, { priority: 'low' })).rejects.toBeInstanceOf(StaleChangeKeyError);
  const fresh = (await source.get(list, created.remoteId))!;
  const updated = await source.update(list, created.remoteId, fresh.changeKey, { priority: 'low', status: 'canceled', dueAt: null });
  expect(updated.fields).toEqual({ ...crmTask, subject: 'Renamed in To Do', priority: 'low', status: 'canceled', dueAt: null });
  expect((await source.get(list, created.remoteId))!.fields).toEqual(updated.fields);
  expect(box.listTasks(list)[0].status).toBe('deferred');

  await expect(source.stamp(list, created.remoteId, fresh.changeKey, 'crm-task-2')).rejects.toBeInstanceOf(StaleChangeKeyError);
  const restampedKey = await source.stamp(list, created.remoteId, updated.changeKey, 'crm-task-2');
  expect(await source.get(list, created.remoteId)).toMatchObject({ crmId: 'crm-task-2', changeKey: restampedKey });
  const links = (await fakeSession(fake, 'tasks.write@contoso.example').request<{ value: { applicationName: string; externalId: string }[] }>({
    method: 'GET', url: `/users/tasks.write@contoso.example/todo/lists/${list}/tasks/${created.remoteId}/linkedResources`,
  })).value;
  expect(links.map((l) => [l.applicationName, l.externalId])).toEqual([[CRM_LINK_APPLICATION, 'crm-task-2']]);
  const unstampedKey = await source.stamp(list, created.remoteId, restampedKey, null);
  expect(await source.get(list, created.remoteId)).toMatchObject({ crmId: null, changeKey: unstampedKey });

  await source.delete(list, created.remoteId);
  expect(await source.get(list, created.remoteId)).toBeNull();
  expect(box.listTasks(list)).toEqual([]);
});
