/**
 * A real redis-server for the queue tests (Debian's package, which .ci/run installs): on
 * 127.0.0.1, a free port and its own temporary folder, without persistence, so a restart
 * starts empty (the harder case for a sweep). Absent locally, the tests skip with the
 * reason; under CI they fail instead.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer, Socket } from 'node:net';

export const REDIS_SERVER = 'redis-server';
export const HAVE_REDIS = spawnSync(REDIS_SERVER, ['--version'], { encoding: 'utf8' }).status === 0;
export const NO_REDIS = `${REDIS_SERVER} is not installed (apt-get install redis-server; .ci/run installs it)`;

/** A port nothing listens on now. */
async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

/** Whether something accepts connections on the port. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.connect(port, '127.0.0.1');
  });
}

export class RedisServer {
  private process: ChildProcess | undefined;

  private constructor(
    readonly port: number,
    private readonly dir: string,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}/0`;
  }

  static async start(dir: string): Promise<RedisServer> {
    const server = new RedisServer(await freePort(), dir);
    await server.restart();
    return server;
  }

  /** Starts the server (again, on the same port, empty) and waits until it takes connections. */
  async restart(): Promise<void> {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir];
    args.push('--save', '', '--appendonly', 'no', '--protected-mode', 'yes');
    this.process = spawn(REDIS_SERVER, args, { stdio: 'ignore' });
    for (let i = 0; i < 200 && !(await accepts(this.port)); i++) await new Promise((r) => setTimeout(r, 50));
    if (!(await accepts(this.port))) throw new Error(`redis-server did not start on port ${this.port}`);
  }

  /** Stops the server (SIGTERM) and waits for it to exit. */
  async stop(): Promise<void> {
    const child = this.process;
    this.process = undefined;
    if (!child || child.exitCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await exited;
  }
}
