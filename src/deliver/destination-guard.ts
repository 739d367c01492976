/**
 * Applies the destination policy (domain/destination-policy) to real connections: a DNS lookup
 * for undici's connector that refuses forbidden addresses, and a check for IP-literal hosts,
 * which never go through a lookup.
 */
import dns, { type LookupAddress } from 'node:dns';
import { isIP } from 'node:net';
import { classifyDestination, DESTINATION_REFUSED } from '../domain/destination-policy.ts';

function refusedDestinationError(host: string, ip: string, why: string): Error {
  return Object.assign(new Error(`destination refused: ${host} is ${ip}, a ${why} address`), { code: DESTINATION_REFUSED });
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

export function guardedLookup(allowPrivate: boolean) {
  return (hostname: string, options: dns.LookupOptions, callback: LookupCallback): void => {
    dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '');
      const list = addresses as LookupAddress[];
      for (const entry of list) {
        const why = classifyDestination(entry.address, { allowPrivate });
        if (why) return callback(refusedDestinationError(hostname, entry.address, why) as NodeJS.ErrnoException, '');
      }
      if (options.all) return callback(null, list);
      callback(null, list[0].address, list[0].family);
    });
  };
}

/** For a host that is an IP literal (no brackets): the refusal, or undefined when allowed (or not a literal). */
export function checkLiteralHost(host: string, allowPrivate: boolean): Error | undefined {
  if (!isIP(host)) return undefined;
  const why = classifyDestination(host, { allowPrivate });
  return why ? refusedDestinationError(host, host, why) : undefined;
}
