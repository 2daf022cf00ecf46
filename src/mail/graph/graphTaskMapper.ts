import type { TaskStatus, TodoTask } from '@microsoft/microsoft-graph-types';
import type { ItemFields } from '../../sync/items/itemSource';
import { fromGraphDateTime, toGraphDateTime } from './graphTime';

/**
 * A To Do task <-> the CRM task's fields (src/crm/itemFields.ts TASK_FIELDS), pure.
 *
 * - Due: To Do keeps only the date of dueDateTime (graph.md §8.4). As Dynamics does (dynamics-sss.md
 *   §1.5), the CRM's due time goes into the reminder: dueDateTime carries the day, reminderDateTime
 *   the time; a reminder on the due day gives the time back, else the due day starts at 00:00 UTC.
 * - Status: open <-> notStarted, inProgress, waitingOnOthers; completed <-> completed; canceled <->
 *   deferred (To Do has no cancelled state).
 * - Percent complete: To Do has none, so it is not carried (the CRM keeps its own); an open task with
 *   some percent done is written inProgress, with none notStarted.
 * - Regarding, owner and state stay in the CRM.
 */

export const GRAPH_TASK_FIELDS = ['subject', 'description', 'startsAt', 'dueAt', 'completedAt', 'status', 'priority'];

const OPEN_STATUSES: TaskStatus[] = ['notStarted', 'inProgress', 'waitingOnOthers'];

export function crmTaskStatus(status: TaskStatus | null | undefined): string {
  if (status === 'completed') return 'completed';
  if (status === 'deferred') return 'canceled';
  return 'open';
}

/** The To Do status of a CRM status; an open task keeps an open To Do status it already has. */
export function graphTaskStatus(status: string, percentComplete: number | null | undefined, current?: TaskStatus | null): TaskStatus {
  if (status === 'completed') return 'completed';
  if (status === 'canceled') return 'deferred';
  if (current && OPEN_STATUSES.includes(current) && percentComplete === undefined) return current;
  return (percentComplete ?? 0) > 0 ? 'inProgress' : 'notStarted';
}

const text = (value: unknown): string | null => (typeof value === 'string' && value !== '' ? value : null);
const sameDay = (a: string, b: string) => a.slice(0, 10) === b.slice(0, 10);

export function taskFromGraph(task: TodoTask): ItemFields {
  const due = fromGraphDateTime(task.dueDateTime);
  const reminder = fromGraphDateTime(task.reminderDateTime);
  return {
    subject: text(task.title),
    description: text(task.body?.content),
    startsAt: fromGraphDateTime(task.startDateTime),
    dueAt: due && reminder && sameDay(due, reminder) ? reminder : due,
    completedAt: fromGraphDateTime(task.completedDateTime),
    status: crmTaskStatus(task.status),
    priority: task.importance ?? 'normal',
  };
}

/**
 * The Graph properties that write these CRM fields (only those given: a whole task, or the fields
 * of an update). `current` is the task as Graph has it, for the status an open task keeps.
 */
export function taskToGraph(fields: ItemFields, current?: TodoTask): TodoTask {
  const task: TodoTask = {};
  const has = (field: string) => Object.prototype.hasOwnProperty.call(fields, field);
  if (has('subject')) task.title = text(fields.subject) ?? '';
  if (has('description')) task.body = { content: text(fields.description) ?? '', contentType: 'text' };
  if (has('startsAt')) task.startDateTime = text(fields.startsAt) ? toGraphDateTime(String(fields.startsAt)) : null;
  if (has('dueAt')) {
    const due = text(fields.dueAt);
    task.dueDateTime = due ? { dateTime: `${due.slice(0, 10)}T00:00:00`, timeZone: 'UTC' } : null;
    task.reminderDateTime = due ? toGraphDateTime(due) : null;
    task.isReminderOn = due !== null;
  }
  if (has('completedAt')) task.completedDateTime = text(fields.completedAt) ? toGraphDateTime(String(fields.completedAt)) : null;
  if (has('status') || has('percentComplete')) {
    const status = (fields.status as string | undefined) ?? crmTaskStatus(current?.status);
    task.status = graphTaskStatus(status, fields.percentComplete as number | null | undefined, current?.status);
  }
  if (has('priority')) task.importance = (text(fields.priority) ?? 'normal') as TodoTask['importance'];
  return task;
}
