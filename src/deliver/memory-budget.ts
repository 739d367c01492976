/**
 * How many bytes of large messages a worker process holds at once. Without it, 32 concurrent
 * deliveries of 25 MB messages hold 800 MB of raw mail (plus parser and encoder buffers); with it,
 * large messages take turns while small ones (read in the first round trip) never wait.
 * First come, first served; a request bigger than the whole budget runs alone, so nothing waits forever.
 */
export interface ByteBudget {
  /** Resolves once `bytes` fit; call the returned function exactly once to give them back. */
  acquire(bytes: number): Promise<() => void>;
}

export function createByteBudget(limit: number): ByteBudget {
  let held = 0;
  const queue: { bytes: number; grant: () => void }[] = [];
  const fits = (bytes: number) => held === 0 || held + bytes <= limit;
  const pump = () => {
    while (queue.length && fits(queue[0].bytes)) queue.shift()!.grant();
  };
  return {
    acquire(bytes) {
      return new Promise((resolve) => {
        const grant = () => {
          held += bytes;
          let released = false;
          resolve(() => {
            if (released) return;
            released = true;
            held -= bytes;
            pump();
          });
        };
        if (!queue.length && fits(bytes)) grant();
        else queue.push({ bytes, grant });
      });
    },
  };
}

