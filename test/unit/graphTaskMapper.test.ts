import { GRAPH_TASK_FIELDS, graphTaskStatus, taskFromGraph, taskToGraph } from '../../src/mail/graph/graphTaskMapper';
import { TASK_FIELDS } from '../../src/crm/itemFields';

const task = {
  subject: 'Call back about the quote', description: 'Ask for\nthe volume', startsAt: '2026-03-02T08:00:00.000Z',
  dueAt: '2026-03-04T15:30:00.000Z', completedAt: null, status: 'open', priority: 'high',
};

/** What To Do does to a task it stores: the due date loses its time (graph.md §8.4). */
function asToDoStores(graph: ReturnType<typeof taskToGraph>) {
  return { ...graph, dueDateTime: graph.dueDateTime ? { dateTime: `${graph.dueDateTime.dateTime!.slice(0, 10)}T00:00:00.0000000`, timeZone: 'UTC' } : null };
}

describe('To Do task mapper', () => {
  it('carries the synced task fields but percent complete, regarding, owner and state', () => {
    const notCarried = ['percentComplete', 'regardingType', 'regardingId', 'ownerUserId', 'state', 'createdAt', 'modifiedAt'];
    expect(new Set(GRAPH_TASK_FIELDS)).toEqual(new Set(Object.keys(TASK_FIELDS).filter((f) => !notCarried.includes(f))));
  });

  it.each([
    ['an open task with a due time', task],
    ['a completed one', { ...task, status: 'completed', completedAt: '2026-03-03T10:00:00.000Z', priority: 'low' }],
    ['a canceled one without dates', { ...task, status: 'canceled', startsAt: null, dueAt: null, description: null, priority: 'normal' }],
    ['one due at midnight UTC', { ...task, dueAt: '2026-03-04T00:00:00.000Z' }],
  ])('%s comes back the same through To Do, the due time through the reminder', (_name, fields) => {
    const graph = taskToGraph(fields);
    expect(taskFromGraph(asToDoStores(graph))).toEqual(fields);
  });

  it('writes the due day as dueDateTime and the due time as the reminder', () => {
    expect(taskToGraph({ dueAt: task.dueAt })).toEqual({
      dueDateTime: { dateTime: '2026-03-04T00:00:00', timeZone: 'UTC' },
      reminderDateTime: { dateTime: '2026-03-04T15:30:00', timeZone: 'UTC' },
      isReminderOn: true,
    });
    // A reminder on another day than the due day is the user's own: the due day starts at midnight.
    expect(taskFromGraph({ dueDateTime: { dateTime: '2026-03-04T00:00:00.0000000', timeZone: 'UTC' }, reminderDateTime: { dateTime: '2026-03-03T09:00:00.0000000', timeZone: 'UTC' } }).dueAt)
      .toBe('2026-03-04T00:00:00.000Z');
  });

  it('maps statuses both ways, an open task keeping its open To Do status', () => {
    expect(['notStarted', 'inProgress', 'waitingOnOthers', 'completed', 'deferred'].map((s) => taskFromGraph({ status: s as never }).status))
      .toEqual(['open', 'open', 'open', 'completed', 'canceled']);
    expect(graphTaskStatus('open', 0)).toBe('notStarted');
    expect(graphTaskStatus('open', 40)).toBe('inProgress');
    expect(graphTaskStatus('open', undefined, 'waitingOnOthers')).toBe('waitingOnOthers');
    expect(graphTaskStatus('open', 0, 'inProgress')).toBe('notStarted');
    expect(graphTaskStatus('canceled', 40)).toBe('deferred');
    expect(taskToGraph({ percentComplete: 60 }, { status: 'notStarted' })).toEqual({ status: 'inProgress' });
  });

  it('writes only the fields given', () => {
    expect(taskToGraph({ subject: 'New subject' })).toEqual({ title: 'New subject' });
    expect(taskToGraph({ dueAt: null })).toEqual({ dueDateTime: null, reminderDateTime: null, isReminderOn: false });
  });
});
