/**
 * What an edge uses to start and stop tasks, whoever runs them: `submit` records the task and hands it to
 * the runners (never waiting for the work), `cancel` records the cancellation and pokes whichever runner
 * holds it. Reads (get, result, list) and input go straight to the TaskStore.
 */
import type { NewTask, TaskOwner } from './model';
import type { CreateOutcome, WriteOutcome } from './task-store';

export interface TaskDispatcher {
  submit(owner: TaskOwner, spec: NewTask): Promise<CreateOutcome>;
  cancel(owner: TaskOwner, taskId: string): Promise<WriteOutcome<'cancelled' | 'terminal'>>;
  close(): Promise<void>;
}

/** Why a submitted task could not be handed to a runner (it is failed with this message, not left working). */
export const ENQUEUE_FAILED_MESSAGE = 'The task could not be queued';
