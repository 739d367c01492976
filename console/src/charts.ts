/**
 * Small SVG charts drawn from numbers (no library, nothing inline that the CSP would refuse).
 * Each is a figure: its caption, the chart as an image whose accessible name sums it up (focusable,
 * so a keyboard reaches it and a screen reader reads the sum-up), and the numbers as a table
 * behind a disclosure. `id` makes the chart's elements stable across redraws (focus, open table).
 */
const NS = 'http://www.w3.org/2000/svg';

function svgEl(tag: string, attrs: Record<string, string | number>): SVGElement {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

export interface Series {
  readonly label: string;
  readonly values: readonly number[];
  /** CSS class giving the stroke colour (styles.css). */
  readonly className: string;
}

/**
 * A line chart of several series over the same x points. The chart is an image with a text
 * summary for screen readers (role="img" + aria-label); the numbers are in the legend too.
 */
export function lineChart(title: string, xLabels: readonly string[], series: readonly Series[], unit = '', id = ''): HTMLElement {
  const width = 560;
  const height = 160;
  const pad = { l: 40, r: 8, t: 8, b: 20 };
  const max = Math.max(1, ...series.flatMap((s) => s.values));
  const n = Math.max(1, xLabels.length - 1);
  const x = (i: number) => pad.l + (i / n) * (width - pad.l - pad.r);
  const y = (v: number) => height - pad.b - (v / max) * (height - pad.t - pad.b);
  const summary = series.map((s) => `${s.label}: latest ${s.values.at(-1) ?? 0}${unit}, peak ${Math.max(0, ...s.values)}${unit}`).join('; ');
  const svg = svgEl('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': `${title}. ${summary}`, class: 'chart', tabindex: 0, ...(id ? { id } : {}) });
  for (const frac of [0, 0.5, 1]) {
    const yy = y(max * frac);
    svg.appendChild(svgEl('line', { x1: pad.l, x2: width - pad.r, y1: yy, y2: yy, class: 'grid' }));
    const label = svgEl('text', { x: pad.l - 4, y: yy + 4, 'text-anchor': 'end', class: 'axis' });
    label.textContent = `${Math.round(max * frac)}`;
    svg.appendChild(label);
  }
  for (const [i, label] of [[0, xLabels[0]], [n, xLabels.at(-1)]] as const) {
    const text = svgEl('text', { x: x(i), y: height - 4, 'text-anchor': i === 0 ? 'start' : 'end', class: 'axis' });
    text.textContent = label ?? '';
    svg.appendChild(text);
  }
  for (const s of series) {
    const points = s.values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
    svg.appendChild(svgEl('polyline', { points, class: `line ${s.className}`, fill: 'none' }));
  }
  const figure = document.createElement('figure');
  const caption = document.createElement('figcaption');
  caption.textContent = title;
  figure.append(caption, svg, legend(series.map((s) => ({ label: `${s.label} (latest ${s.values.at(-1) ?? 0}${unit})`, className: s.className }))),
    numbers(title, ['time', ...series.map((s) => s.label)], xLabels.map((label, i) => [label, ...series.map((s) => `${s.values[i] ?? 0}${unit}`)]), id));
  return figure;
}

/** Horizontal bars, one per labelled value. */
export function barChart(title: string, bars: readonly { label: string; value: number }[], unit = '', id = ''): HTMLElement {
  const width = 560;
  const rowHeight = 22;
  const labelWidth = 200;
  const max = Math.max(1, ...bars.map((b) => b.value));
  const height = Math.max(rowHeight, bars.length * rowHeight);
  const summary = bars.length ? bars.map((b) => `${b.label} ${b.value}${unit}`).join('; ') : 'none';
  const svg = svgEl('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': `${title}: ${summary}`, class: 'chart', tabindex: 0, ...(id ? { id } : {}) });
  bars.forEach((bar, i) => {
    const label = svgEl('text', { x: 0, y: i * rowHeight + 15, class: 'axis' });
    label.textContent = bar.label.length > 30 ? `${bar.label.slice(0, 29)}…` : bar.label;
    svg.appendChild(label);
    const w = ((width - labelWidth - 60) * bar.value) / max;
    svg.appendChild(svgEl('rect', { x: labelWidth, y: i * rowHeight + 4, width: Math.max(1, w), height: rowHeight - 8, class: 'bar' }));
    const value = svgEl('text', { x: labelWidth + w + 4, y: i * rowHeight + 15, class: 'axis' });
    value.textContent = `${bar.value}${unit}`;
    svg.appendChild(value);
  });
  if (!bars.length) {
    const none = svgEl('text', { x: 0, y: 15, class: 'axis' });
    none.textContent = 'none';
    svg.appendChild(none);
  }
  const figure = document.createElement('figure');
  const caption = document.createElement('figcaption');
  caption.textContent = title;
  figure.append(caption, svg, numbers(title, ['item', 'value'], bars.map((b) => [b.label, `${b.value}${unit}`]), id));
  return figure;
}

/** The chart's numbers as a table, behind a disclosure (keyboard: Enter on its summary). */
function numbers(title: string, headers: readonly string[], rows: readonly (readonly string[])[], id: string): HTMLElement {
  const details = document.createElement('details');
  if (id) details.id = `${id}-numbers`;
  const summary = document.createElement('summary');
  if (id) summary.id = `${id}-summary`;
  summary.textContent = `Numbers: ${title}`;
  const table = document.createElement('table');
  const head = table.createTHead().insertRow();
  for (const text of headers) {
    const th = document.createElement('th');
    th.scope = 'col';
    th.textContent = text;
    head.appendChild(th);
  }
  const body = table.createTBody();
  for (const cells of rows) {
    const row = body.insertRow();
    cells.forEach((text, i) => {
      const cell = document.createElement(i === 0 ? 'th' : 'td');
      if (i === 0) (cell as HTMLTableCellElement).scope = 'row';
      cell.textContent = text;
      row.appendChild(cell);
    });
  }
  details.append(summary, table);
  return details;
}

function legend(items: readonly { label: string; className: string }[]): HTMLElement {
  const ul = document.createElement('ul');
  ul.className = 'legend';
  for (const item of items) {
    const li = document.createElement('li');
    const swatch = document.createElement('span');
    swatch.className = `swatch ${item.className}`;
    swatch.setAttribute('aria-hidden', 'true');
    li.append(swatch, document.createTextNode(item.label));
    ul.appendChild(li);
  }
  return ul;
}
