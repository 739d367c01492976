/** Live updates: the server's event stream (SSE) triggers a redraw, at most every few seconds. */
import { BASE } from '../api.ts';

/** What GET .../events sends (domain/message-log.ts, LogEventName). */
const EVENT_NAMES = ['message.accepted', 'delivery.attempt', 'delivery.queued', 'delivery.delivering', 'delivery.delivered', 'delivery.retrying', 'delivery.dead-lettered', 'delivery.replayed'];

export function liveEvents(redraw: () => void, minGapMs = 3000): () => void {
  const source = new EventSource(`${BASE}/events`, { withCredentials: true });
  let timer: ReturnType<typeof setTimeout> | undefined;
  let last = 0;
  const schedule = () => {
    if (timer) return;
    const wait = Math.max(0, last + minGapMs - Date.now());
    timer = setTimeout(() => {
      timer = undefined;
      last = Date.now();
      redraw();
    }, wait);
  };
  // The server names each event (`event: delivery.delivered`): a named event fires only its own listeners.
  source.onmessage = schedule;
  for (const name of EVENT_NAMES) source.addEventListener(name, schedule);
  return () => {
    source.close();
    clearTimeout(timer);
  };
}
