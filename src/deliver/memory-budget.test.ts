import { describe, expect, it } from 'vitest';
import { createByteBudget } from './memory-budget.ts';

describe('createByteBudget', () => {
  it('grants while the bytes fit, then in arrival order as bytes come back', async () => {
    const budget = createByteBudget(100);
    const order: string[] = [];
    const a = await budget.acquire(60);
    const b = budget.acquire(60).then((release) => { order.push('b'); return release; });
    const c = budget.acquire(10).then((release) => { order.push('c'); return release; });
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(order).toEqual([]); // c fits, but waits behind b: first come, first served
    a();
    (await b)();
    (await c)();
    expect(order).toEqual(['b', 'c']);
  });

  it('lets a request bigger than the budget run alone instead of waiting forever', async () => {
    const budget = createByteBudget(100);
    const big = await budget.acquire(500);
    let small = false;
    const next = budget.acquire(1).then((release) => { small = true; return release; });
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(small).toBe(false);
    big();
    big(); // a second release changes nothing
    (await next)();
    expect(small).toBe(true);
  });
});
