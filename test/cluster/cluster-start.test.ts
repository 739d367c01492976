/** What start-up refuses on a cluster, with a message saying why and what to do. */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestCluster, type TestCluster } from '../helpers/redis-cluster.ts';
import { startTestMxhook } from '../helpers/mxhook.ts';
import { sendMail } from '../helpers/smtp.ts';
import { startReceiver } from '../helpers/receiver.ts';

let cluster: TestCluster;
beforeAll(async () => {
  // Three primaries, no replicas.
  cluster = await startTestCluster({ replicasPerPrimary: 0 });
}, 60_000);
afterAll(async () => {
  await cluster?.cleanup();
});

it('refuses a cluster whose primaries lack the replica each 250 waits for, naming them and the way out', async () => {
  await expect(startTestMxhook({ cluster: cluster.seeds }, ['--shards', '4'])).rejects.toThrow(/have fewer than the 1 replica\(s\) an accept waits for \(MXHOOK_REDIS_WAIT_REPLICAS\).*MXHOOK_REDIS_WAIT_REPLICAS=0/);
});

it('runs on it with MXHOOK_REDIS_WAIT_REPLICAS=0, the risk taken knowingly', async () => {
  const mx = await startTestMxhook({ cluster: cluster.seeds }, ['--shards', '4', '--redis-wait-replicas', '0']);
  const app = await startReceiver();
  try {
    await mx.addRoute('parse.example.com', app.url);
    const info = await sendMail(mx.smtpPort!, { from: 'a@sender.test', to: 'b@parse.example.com', subject: 'no replicas', text: 'x' });
    expect(info.response).toMatch(/^250 /);
    expect((await app.waitFor(1))[0]!.fields.subject).toBe('no replicas');
  } finally {
    await mx.close();
    await app.close();
  }
});
