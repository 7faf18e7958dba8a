/**
 * Worker thread body of a two-thread EmbeddingStore (started by worker-shard.ts): a
 * TableShard over the same table memory as the main thread, running the commands of the
 * CommandChannel on the tables the main thread gave it. An error is sent back on the
 * port and the commands queued after it are skipped until the main thread has seen it.
 */
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { Command, CommandChannel, type PostedCommand } from './command-channel.js';
import { exchangedFeatures } from './exchange.js';
import { towerColumns } from './layout.js';
import type { TowerPair } from './lookup.js';
import { TableShard } from './shard.js';
import { TableState } from './table-state.js';
import type { ReplyValue, ShardWorkerData, WorkerReply, WorkerRequest } from './worker-shard.js';

const { spec, optimizer, tables, clock, control, port, exchange } = workerData as ShardWorkerData;
const channel = new CommandChannel(control);
const shard = new TableShard(
  spec,
  spec.tables.map((table, t) => new TableState(table, tables[t])),
  optimizer,
  clock,
);
let buffers = exchange;
let features = exchangedFeatures(buffers);
let widths = { user: 0, item: 0 };
let staging = staged();

function staged(): TowerPair {
  return {
    user: { values: buffers.user, width: widths.user },
    item: { values: buffers.item, width: widths.item },
  };
}

function answer(request: WorkerRequest): ReplyValue {
  switch (request.kind) {
    case 'own': {
      const columns = {
        user: towerColumns(spec, 'user', request.activeDims),
        item: towerColumns(spec, 'item', request.activeDims),
      };
      shard.own(request.tables, request.activeDims, columns);
      widths = { user: columns.user.width, item: columns.item.width };
      staging = staged();
      return null;
    }
    case 'exchange':
      buffers = request.buffers;
      features = exchangedFeatures(buffers);
      staging = staged();
      return null;
    case 'discard':
      shard.discard();
      return null;
    case 'has-pending':
      return shard.hasPending();
    case 'pending': {
      const { rows, grad, dims } = shard.pending(request.table, request.dims);
      return { rows: rows.slice(), grad: grad.slice(), dims };
    }
    case 'scratch-bytes':
      return shard.scratchBytes();
  }
}

function receivedRequest(): WorkerRequest {
  const request = receiveMessageOnPort(port)?.message as WorkerRequest | undefined;
  if (!request) throw new Error('embedding worker: a request command came without its request');
  return request;
}

function run(command: PostedCommand): void {
  switch (command.code) {
    case Command.forward:
      shard.forward(features, command.rows, staging);
      break;
    case Command.backward:
      shard.backward(features, command.rows, staging);
      break;
    case Command.update:
      shard.update(command.rate);
      break;
    case Command.request:
      port.postMessage({ kind: 'reply', value: answer(receivedRequest()) } satisfies WorkerReply);
      break;
  }
}

function report(error: unknown): void {
  const reply: WorkerReply =
    error instanceof Error
      ? { kind: 'error', name: error.name, message: error.message }
      : { kind: 'error', name: 'Error', message: String(error) };
  port.postMessage(reply);
  channel.markFailed();
}

process.on('exit', () => channel.markExited());
channel.markReady();
parentPort!.postMessage('ready');
for (;;) {
  const command = channel.take();
  if (!channel.failed) {
    try {
      run(command);
    } catch (error) {
      report(error);
    }
  } else if (command.code === Command.request) {
    receivedRequest();
  }
  channel.complete();
}
