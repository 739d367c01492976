/** Starting and stopping the process's HTTP listeners (the API, the /metrics-only one). */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Listens; resolves with the bound port (useful with port 0). */
export function listenHttp(server: Server, port: number | undefined, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve((server.address() as AddressInfo).port));
  });
}

/** Stops taking connections, closes idle keep-alive ones, and resolves once the rest have finished. */
export function closeHttp(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
}
