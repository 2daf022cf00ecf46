import type { LinkedResource, TodoTask, TodoTaskList } from '@microsoft/microsoft-graph-types';
import type { SourceCursor } from '../mailSource';
import { StaleChangeKeyError, type ItemFields, type ItemPage, type ItemSource, type RemoteItem } from '../../sync/items/itemSource';
import { ITEM_PREFER, asListed, changeKeyOf, deleteItem, deltaRound, getOrNull, itemWrite, modifiedAtOf, pathId, writeWithChangeKey } from './graphItems';
import { taskFromGraph, taskToGraph } from './graphTaskMapper';
import type { GraphSession } from './graphSession';

/** The application name of the linked resource that holds a task's CRM id (graph.md §4.4). */
export const CRM_LINK_APPLICATION = 'CRM sync';

/**
 * A mailbox's To Do tasks in Graph: delta per list with the linked resources expanded, the CRM id
 * in a linked resource (To Do tasks have no extended properties, graph.md §4.1). To Do documents
 * ETags but not If-Match (graph.md §3): writes send it, and the stamp compares it itself.
 */
export class GraphTaskSource implements ItemSource {
  readonly entity = 'task' as const;

  constructor(private readonly session: GraphSession) {}

  private tasks(list: string): string {
    return `${this.session.userPath}/todo/lists/${pathId(list)}/tasks`;
  }

  async containers(): Promise<string[]> {
    const lists = await this.session.request<{ value: TodoTaskList[] }>({ method: 'GET', url: `${this.session.userPath}/todo/lists`, prefer: ITEM_PREFER });
    const defaultList = lists.value.find((l) => l.wellknownListName === 'defaultList');
    if (!defaultList?.id) throw new Error(`The mailbox ${this.session.endpoint.user} has no default To Do list`);
    return [defaultList.id];
  }

  pull(container: string, cursor: SourceCursor | null): AsyncIterable<ItemPage> {
    return deltaRound(this.session, `${this.tasks(container)}/delta?$expand=linkedResources`, cursor, asListed((v) => remoteTask(v as TodoTask)));
  }

  async get(container: string, remoteId: string): Promise<RemoteItem | null> {
    const task = await getOrNull<TodoTask>(this.session, `${this.tasks(container)}/${pathId(remoteId)}?$expand=linkedResources`);
    return task ? remoteTask(task) : null;
  }

  async create(container: string, fields: ItemFields, crmId: string): Promise<RemoteItem> {
    // To Do refuses a task without a title: a subject that does not flow to Exchange leaves it empty.
    const body: TodoTask = { title: '', ...taskToGraph(fields), linkedResources: [crmLink(crmId, fields.subject)] };
    const created = await itemWrite<TodoTask>(this.session, { method: 'POST', url: this.tasks(container), body, repeatable: false }, null);
    return remoteTask({ ...created, linkedResources: created.linkedResources ?? body.linkedResources });
  }

  async update(container: string, remoteId: string, changeKey: string, fields: ItemFields): Promise<RemoteItem> {
    const current = await getOrNull<TodoTask>(this.session, `${this.tasks(container)}/${pathId(remoteId)}?$expand=linkedResources`);
    if (!current || changeKeyOf(current) !== changeKey) throw new StaleChangeKeyError(remoteId);
    const updated = await writeWithChangeKey<TodoTask>(this.session, remoteId, changeKey, {
      method: 'PATCH',
      url: `${this.tasks(container)}/${pathId(remoteId)}`,
      body: taskToGraph(fields, current),
    });
    return remoteTask({ ...updated, linkedResources: current.linkedResources });
  }

  async stamp(container: string, remoteId: string, changeKey: string, crmId: string | null): Promise<string> {
    const url = `${this.tasks(container)}/${pathId(remoteId)}`;
    const current = await getOrNull<TodoTask>(this.session, `${url}?$expand=linkedResources`);
    if (!current || changeKeyOf(current) !== changeKey) throw new StaleChangeKeyError(remoteId);
    const ours = (current.linkedResources ?? []).filter(isCrmLink);
    if (crmId !== null && ours.length === 1 && ours[0].externalId === crmId) return changeKey;
    for (const link of ours) await deleteItem(this.session, `${url}/linkedResources/${pathId(link.id!)}`, remoteId);
    if (crmId !== null) {
      await itemWrite(this.session, { method: 'POST', url: `${url}/linkedResources`, body: crmLink(crmId, current.title), repeatable: false }, remoteId);
    }
    // A linked resource changes the task's ETag, and its answer does not carry the task's.
    const after = await this.get(container, remoteId);
    if (!after) throw new Error(`The task ${remoteId} vanished while its CRM id was stamped`);
    return after.changeKey;
  }

  async delete(container: string, remoteId: string): Promise<void> {
    await deleteItem(this.session, `${this.tasks(container)}/${pathId(remoteId)}`, remoteId);
  }
}

function crmLink(crmId: string, subject: unknown): LinkedResource {
  return { applicationName: CRM_LINK_APPLICATION, externalId: crmId, displayName: typeof subject === 'string' && subject ? subject : 'CRM task' };
}

const isCrmLink = (link: LinkedResource) => link.applicationName === CRM_LINK_APPLICATION && Boolean(link.externalId);

export function remoteTask(task: TodoTask): RemoteItem {
  return {
    remoteId: task.id!,
    changeKey: changeKeyOf(task),
    modifiedAt: modifiedAtOf(task),
    crmId: (task.linkedResources ?? []).find(isCrmLink)?.externalId ?? null,
    categories: task.categories ?? [],
    matchKeys: [],
    fields: taskFromGraph(task),
  };
}
