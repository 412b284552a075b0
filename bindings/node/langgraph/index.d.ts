import { BaseCheckpointSaver, type Checkpoint, type CheckpointListOptions, type CheckpointTuple,
  type ChannelVersions, type CheckpointMetadata, type PendingWrite, type SerializerProtocol }
  from '@langchain/langgraph-checkpoint';
import type { RunnableConfig } from '@langchain/core/runnables';
import type { Database, OpenOptions } from '../index';

export interface InmemSaverOptions extends OpenOptions {
  /** The database directory (the saver opens and owns it). */
  path?: string;
  /** An open database to use instead (not closed by the saver). */
  db?: Database;
  /** A tenant name (at most 63 bytes), so several savers can share a database. */
  namespace?: string;
  serde?: SerializerProtocol;
}

export class InmemSaver extends BaseCheckpointSaver {
  constructor(options?: InmemSaverOptions, serde?: SerializerProtocol);
  readonly db: Database;
  readonly namespace: string;
  /** Closes the database if the saver opened it. */
  close(): void;
  /** The inmem run id of a thread. */
  runIdOf(threadId: string): string;
  getTuple(config: RunnableConfig): Promise<CheckpointTuple | undefined>;
  list(config: RunnableConfig, options?: CheckpointListOptions): AsyncGenerator<CheckpointTuple>;
  put(config: RunnableConfig, checkpoint: Checkpoint, metadata: CheckpointMetadata,
    newVersions: ChannelVersions): Promise<RunnableConfig>;
  putWrites(config: RunnableConfig, writes: PendingWrite[], taskId: string,
    taskPath?: string): Promise<void>;
  deleteThread(threadId: string): Promise<void>;
}
export default InmemSaver;
