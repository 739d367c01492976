import { Cluster } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { createRedis } from './redis.ts';

describe('createRedis for a cluster', () => {
  it('takes every node\'s password and TLS from the first seed written as a URL, and the nodes from all seeds', () => {
    const redis = createRedis({ cluster: ['rediss://:S3cret%21@10.0.0.1:7000', '10.0.0.2:7001', '[::1]:7002'] }, 'fail-fast');
    redis.on('error', () => {});
    try {
      expect(redis).toBeInstanceOf(Cluster);
      const cluster = redis as Cluster;
      expect(cluster.options.redisOptions).toMatchObject({ password: 'S3cret!', tls: {}, enableOfflineQueue: false });
      expect(cluster.startupNodes).toEqual([{ host: '10.0.0.1', port: 7000 }, { host: '10.0.0.2', port: 7001 }, { host: '::1', port: 7002 }]);
      // A fail-fast client queues nothing while a slot has no primary: SMTP answers 451 at once.
      expect(cluster.options.enableOfflineQueue).toBe(false);
    } finally {
      redis.disconnect();
    }
  });
});
