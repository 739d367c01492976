/** Live updates: the server's event stream (SSE) triggers a redraw, at most every few seconds. */
import { BASE } from '../api.ts';

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
  source.onmessage = schedule;
  source.addEventListener('mxhook', schedule);
  return () => {
    source.close();
    clearTimeout(timer);
  };
}
