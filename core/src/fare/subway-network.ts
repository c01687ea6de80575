/**
 * The subway network and its precomputed fare tables (DOMAIN.md section 4, data/SOURCE.md).
 *
 * Built once per fare-table version, off the gate path: station codes, a dense distance
 * matrix and a dense fare matrix, so the gate's quote is one array index (no graph search).
 *
 * - Station codes are stable uint16 values, 1-based, in order of first appearance in the CSV
 *   (row by row, from_station then to_station), so the same CSV always gives the same codes.
 *   Code 0 means "no station" on the card.
 * - The main network (every line except the special lines) is one undirected graph; the same
 *   name on two lines is one node (in-station transfer). Names with a line suffix such as
 *   木樨地(1号线) are different nodes: out-of-station transfers are not modelled [P].
 * - Special lines (首都机场线, 大兴机场线, 西郊线 by default) are outside the distance graph and
 *   priced by their own rule over the distance along the line.
 * - Trip between a station only on a special line and any other station [P]: the special
 *   line's fare from that station to a transfer station (a station of that line which is on
 *   the main network: 三元桥, 东直门, 北新桥, 草桥, 巴沟) plus the main-network fare from the
 *   transfer station onwards (0 when the transfer station is the other end), choosing the
 *   cheapest transfer (ties: the shorter distance). Two stations on the same special line:
 *   that line's fare alone. Two main-network stations are always quoted on the main network,
 *   even when both also lie on a special line (三元桥-东直门), because the gate cannot know the
 *   route and the rider gets the cheaper reading.
 * - The reported distance is the sum of the legs (special line + main network).
 */
import { distanceBandFareFen, validateDistanceBandRule } from './distance-bands.ts';
import { DEFAULT_SUBWAY_FARE_POLICY, type SpecialLineRule, type SubwayFarePolicy, validateWorkingDayCalendar } from './subway-fare-policy.ts';

export class UnknownStationError extends Error {
  override readonly name = 'UnknownStationError';
  constructor(readonly station: string | number) {
    super(typeof station === 'number' ? `unknown station code ${station}` : `unknown station "${station}"`);
  }
}

export class SubwayNetworkFormatError extends Error {
  override readonly name = 'SubwayNetworkFormatError';
}

export interface SubwaySection {
  line: string;
  from: string;
  to: string;
  distanceM: number;
}

export interface SubwayNetwork {
  /** The CSV it was built from: the fare tables carry it and rebuild the network. */
  readonly csvText: string;
  readonly policy: SubwayFarePolicy;
  /** Number of stations; codes run 1..stationCount. */
  readonly stationCount: number;
  /** Matrix side = stationCount + 1 (row/column 0 unused, so a code is the index). */
  readonly side: number;
  /** Index = code; [0] = ''. */
  readonly stationNames: readonly string[];
  readonly codeByName: ReadonlyMap<string, number>;
  /** Index = code: 1 when the station is on the main network. */
  readonly onMainNetwork: Uint8Array;
  /** Index = code: 1 when entries there get the early-entry discount (policy list). */
  readonly earlyEntryStation: Uint8Array;
  /** side × side, metres; -1 = no route. */
  readonly distanceM: Int32Array;
  /** side × side, undiscounted fare in fen; -1 = no route. */
  readonly fareFen: Int32Array;
  /** Index = code: the highest fare from that station (settles a journey that never exited) [P]. */
  readonly maxFareFromFen: Int32Array;
  readonly lines: readonly string[];
}

export interface SubwayQuote {
  distanceM: number;
  fareFen: number;
}

export function parseSubwaySections(csvText: string): SubwaySection[] {
  const lines = csvText.split(/\r?\n/);
  const header = lines[0]?.replace(/^\uFEFF/, '').trim();
  if (header !== 'line,from_station,to_station,distance_m') {
    throw new SubwayNetworkFormatError(`expected header "line,from_station,to_station,distance_m", got "${header?.slice(0, 80)}"`);
  }
  const sections: SubwaySection[] = [];
  for (let i = 1; i < lines.length; i++) {
    const text = lines[i].trim();
    if (text === '') continue;
    const cells = text.split(',');
    if (cells.length !== 4) throw new SubwayNetworkFormatError(`line ${i + 1}: expected 4 cells, got ${cells.length}`);
    const [line, from, to, distanceText] = cells.map((c) => c.trim());
    if (!line || !from || !to) throw new SubwayNetworkFormatError(`line ${i + 1}: empty line or station name`);
    if (!/^[1-9][0-9]{0,6}$/.test(distanceText))
      throw new SubwayNetworkFormatError(`line ${i + 1}: distance "${distanceText}" is not a positive whole number of metres`);
    if (from === to) throw new SubwayNetworkFormatError(`line ${i + 1}: section from ${from} to itself`);
    sections.push({ line, from, to, distanceM: Number(distanceText) });
  }
  if (sections.length === 0) throw new SubwayNetworkFormatError('no sections');
  return sections;
}

/** Shortest distances from `source` over a CSR graph (binary-heap Dijkstra). */
function dijkstra(start: Int32Array, adj: Int32Array, weight: Int32Array, source: number, out: Float64Array): void {
  out.fill(Infinity);
  out[source] = 0;
  const heapNode = new Int32Array(adj.length + 1);
  const heapDist = new Float64Array(adj.length + 1);
  let size = 0;
  const push = (node: number, dist: number): void => {
    let i = size++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heapDist[parent] <= dist) break;
      heapNode[i] = heapNode[parent];
      heapDist[i] = heapDist[parent];
      i = parent;
    }
    heapNode[i] = node;
    heapDist[i] = dist;
  };
  push(source, 0);
  while (size > 0) {
    const node = heapNode[0];
    const dist = heapDist[0];
    size--;
    if (size > 0) {
      const lastNode = heapNode[size];
      const lastDist = heapDist[size];
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= size) break;
        const r = l + 1;
        const c = r < size && heapDist[r] < heapDist[l] ? r : l;
        if (heapDist[c] >= lastDist) break;
        heapNode[i] = heapNode[c];
        heapDist[i] = heapDist[c];
        i = c;
      }
      heapNode[i] = lastNode;
      heapDist[i] = lastDist;
    }
    if (dist > out[node]) continue;
    for (let e = start[node]; e < start[node + 1]; e++) {
      const next = adj[e];
      const nd = dist + weight[e];
      if (nd < out[next]) {
        out[next] = nd;
        push(next, nd);
      }
    }
  }
}

/** Undirected CSR graph over codes 0..side-1 from a list of sections (parallel sections: shortest kept). */
function buildGraph(side: number, edges: Array<[number, number, number]>): { start: Int32Array; adj: Int32Array; weight: Int32Array } {
  const best = new Map<number, number>();
  for (const [a, b, d] of edges) {
    for (const key of [a * side + b, b * side + a]) {
      const prev = best.get(key);
      if (prev === undefined || d < prev) best.set(key, d);
    }
  }
  const degree = new Int32Array(side + 1);
  for (const key of best.keys()) degree[Math.floor(key / side) + 1]++;
  for (let i = 1; i <= side; i++) degree[i] += degree[i - 1];
  const start = degree.slice();
  const fill = degree.slice();
  const adj = new Int32Array(best.size);
  const weight = new Int32Array(best.size);
  for (const [key, d] of best) {
    const a = Math.floor(key / side);
    const slot = fill[a]++;
    adj[slot] = key % side;
    weight[slot] = d;
  }
  return { start, adj, weight };
}

function specialFareFen(rule: SpecialLineRule, distanceM: number): number {
  if (rule.kind === 'flat') return rule.flatFareFen;
  if (!rule.distanceRule) throw new RangeError(`special line ${rule.line}: distance rule missing`);
  return distanceBandFareFen(rule.distanceRule, distanceM);
}

export function validateSubwayFarePolicy(policy: SubwayFarePolicy): void {
  validateDistanceBandRule(policy.main, 'main network bands');
  for (const rule of policy.special) {
    if (rule.kind === 'flat' && (!Number.isSafeInteger(rule.flatFareFen) || rule.flatFareFen < 0))
      throw new RangeError(`${rule.line}: flat fare must be integer fen >= 0`);
    if (rule.kind === 'distance') {
      if (!rule.distanceRule) throw new RangeError(`${rule.line}: distance rule missing`);
      validateDistanceBandRule(rule.distanceRule, rule.line);
    }
  }
  const ladder = policy.monthlyLadder;
  if (ladder.length === 0 || ladder[0].fromSpendFen !== 0) throw new RangeError('monthly ladder must start at 0 spend');
  for (let i = 0; i < ladder.length; i++) {
    if (!Number.isInteger(ladder[i].percent) || ladder[i].percent < 0 || ladder[i].percent > 100) throw new RangeError('ladder percent must be 0..100');
    if (i > 0 && !(ladder[i].fromSpendFen > ladder[i - 1].fromSpendFen)) throw new RangeError('ladder steps must ascend');
  }
  const early = policy.earlyEntry;
  if (!Number.isInteger(early.percent) || early.percent < 0 || early.percent > 100) throw new RangeError('early-entry percent must be 0..100');
  for (const amount of [policy.overtimeFen, policy.minEntryBalanceFen]) {
    if (!Number.isSafeInteger(amount) || amount < 0) throw new RangeError('subway policy amounts must be integer fen >= 0');
  }
  if (!(policy.maxTimeInSystemMs > 0) || policy.sameStationFreeExitMs < 0 || policy.staleEntryMs < 0)
    throw new RangeError('subway policy times must be positive');
  validateWorkingDayCalendar(policy.calendar);
}

/**
 * Builds the network and every table the gate needs. Cost: one Dijkstra per main-network
 * station (~425 × a few thousand heap operations), a few tens of milliseconds, once per
 * fare-table version.
 */
export function parseSubwayNetwork(csvText: string, policy: SubwayFarePolicy = DEFAULT_SUBWAY_FARE_POLICY): SubwayNetwork {
  validateSubwayFarePolicy(policy);
  const sections = parseSubwaySections(csvText);
  const specialByLine = new Map<string, SpecialLineRule>();
  for (const rule of policy.special) specialByLine.set(rule.line, rule);

  const codeByName = new Map<string, number>();
  const stationNames: string[] = [''];
  const codeOf = (name: string): number => {
    let code = codeByName.get(name);
    if (code === undefined) {
      code = stationNames.length;
      if (code > 0xffff) throw new SubwayNetworkFormatError('more than 65535 stations');
      codeByName.set(name, code);
      stationNames.push(name);
    }
    return code;
  };
  const lines: string[] = [];
  const mainEdges: Array<[number, number, number]> = [];
  const specialEdges = new Map<string, Array<[number, number, number]>>();
  for (const s of sections) {
    const a = codeOf(s.from);
    const b = codeOf(s.to);
    if (!lines.includes(s.line)) lines.push(s.line);
    if (specialByLine.has(s.line)) {
      let list = specialEdges.get(s.line);
      if (!list) specialEdges.set(s.line, (list = []));
      list.push([a, b, s.distanceM]);
    } else {
      mainEdges.push([a, b, s.distanceM]);
    }
  }
  const n = stationNames.length - 1;
  const side = n + 1;
  const onMainNetwork = new Uint8Array(side);
  for (const [a, b] of mainEdges) onMainNetwork[a] = onMainNetwork[b] = 1;

  const distanceM = new Int32Array(side * side).fill(-1);
  const fareFen = new Int32Array(side * side).fill(-1);
  const scratch = new Float64Array(side);

  // Main network: all pairs of main stations.
  const main = buildGraph(side, mainEdges);
  for (let src = 1; src <= n; src++) {
    if (!onMainNetwork[src]) continue;
    dijkstra(main.start, main.adj, main.weight, src, scratch);
    for (let dst = 1; dst <= n; dst++) {
      if (!onMainNetwork[dst] || scratch[dst] === Infinity) continue;
      const d = scratch[dst];
      distanceM[src * side + dst] = d;
      fareFen[src * side + dst] = distanceBandFareFen(policy.main, d);
    }
  }

  // Special lines: distances along each line, and each special-only station's ways onto the main network.
  interface Exit {
    transfer: number;
    fareFen: number;
    distanceM: number;
  }
  const exitsOf = new Map<number, Exit[]>();
  const lineDistance = new Map<string, Float64Array[]>();
  const linesOfStation = new Map<number, string[]>();
  for (const [line, edges] of specialEdges) {
    const rule = specialByLine.get(line)!;
    const graph = buildGraph(side, edges);
    const members = new Set<number>();
    for (const [a, b] of edges) members.add(a).add(b);
    const table: Float64Array[] = [];
    for (const code of members) {
      const out = new Float64Array(side);
      dijkstra(graph.start, graph.adj, graph.weight, code, out);
      table[code] = out;
      const list = linesOfStation.get(code) ?? [];
      list.push(line);
      linesOfStation.set(code, list);
    }
    lineDistance.set(line, table);
    for (const code of members) {
      if (onMainNetwork[code]) continue;
      const exits = exitsOf.get(code) ?? [];
      for (const transfer of members) {
        if (!onMainNetwork[transfer]) continue;
        const d = table[code][transfer];
        if (d === Infinity) continue;
        exits.push({ transfer, fareFen: specialFareFen(rule, d), distanceM: d });
      }
      exitsOf.set(code, exits);
    }
  }
  const selfExit = (code: number): Exit[] => [{ transfer: code, fareFen: 0, distanceM: 0 }];
  for (let a = 1; a <= n; a++) {
    for (let b = 1; b <= n; b++) {
      if (onMainNetwork[a] && onMainNetwork[b]) continue;
      let bestFare = Infinity;
      let bestDistance = Infinity;
      const consider = (fare: number, dist: number): void => {
        if (fare < bestFare || (fare === bestFare && dist < bestDistance)) {
          bestFare = fare;
          bestDistance = dist;
        }
      };
      // Same special-only station (outside the free window): the minimum fare of its line.
      if (a === b) {
        for (const line of linesOfStation.get(a) ?? []) consider(specialFareFen(specialByLine.get(line)!, 0), 0);
        if (bestFare !== Infinity) {
          fareFen[a * side + b] = bestFare;
          distanceM[a * side + b] = 0;
          continue;
        }
      }
      for (const line of linesOfStation.get(a) ?? []) {
        if (!(linesOfStation.get(b) ?? []).includes(line)) continue;
        const d = lineDistance.get(line)![a][b];
        if (d !== Infinity) consider(specialFareFen(specialByLine.get(line)!, d), d);
      }
      const exitsA = onMainNetwork[a] ? selfExit(a) : (exitsOf.get(a) ?? []);
      const exitsB = onMainNetwork[b] ? selfExit(b) : (exitsOf.get(b) ?? []);
      for (const ea of exitsA) {
        for (const eb of exitsB) {
          let midFare = 0;
          let midDist = 0;
          if (ea.transfer !== eb.transfer) {
            const k = ea.transfer * side + eb.transfer;
            if (fareFen[k] < 0) continue;
            midFare = fareFen[k];
            midDist = distanceM[k];
          }
          consider(ea.fareFen + midFare + eb.fareFen, ea.distanceM + midDist + eb.distanceM);
        }
      }
      if (bestFare !== Infinity) {
        fareFen[a * side + b] = bestFare;
        distanceM[a * side + b] = bestDistance;
      }
    }
  }
  // Same station on the main network: distance 0; the fare stays the band fare of 0 m (the
  // minimum fare); the same-station free-exit window is applied by the tap engine.
  for (let a = 1; a <= n; a++) {
    if (onMainNetwork[a]) {
      distanceM[a * side + a] = 0;
      fareFen[a * side + a] = distanceBandFareFen(policy.main, 0);
    }
  }
  const maxFareFromFen = new Int32Array(side);
  for (let a = 1; a <= n; a++) {
    let max = 0;
    for (let b = 1; b <= n; b++) max = Math.max(max, fareFen[a * side + b]);
    maxFareFromFen[a] = max;
  }
  const earlyEntryStation = new Uint8Array(side);
  if (policy.earlyEntry.enabled) {
    for (const name of policy.earlyEntry.stations) {
      const code = codeByName.get(name);
      if (code === undefined) throw new UnknownStationError(name);
      earlyEntryStation[code] = 1;
    }
  }
  return { csvText, policy, stationCount: n, side, stationNames, codeByName, onMainNetwork, earlyEntryStation, distanceM, fareFen, maxFareFromFen, lines };
}

export function stationCode(network: SubwayNetwork, name: string): number {
  const code = network.codeByName.get(name);
  if (code === undefined) throw new UnknownStationError(name);
  return code;
}

export function stationName(network: SubwayNetwork, code: number): string {
  if (!Number.isInteger(code) || code < 1 || code > network.stationCount) throw new UnknownStationError(code);
  return network.stationNames[code];
}

export function isStationCode(network: SubwayNetwork, code: number): boolean {
  return Number.isInteger(code) && code >= 1 && code <= network.stationCount;
}

/** Undiscounted fare by station codes: two array reads (the gate path). */
export function quoteSubwayFareByCode(network: SubwayNetwork, fromCode: number, toCode: number): SubwayQuote {
  if (!isStationCode(network, fromCode)) throw new UnknownStationError(fromCode);
  if (!isStationCode(network, toCode)) throw new UnknownStationError(toCode);
  const k = fromCode * network.side + toCode;
  const fare = network.fareFen[k];
  if (fare < 0) throw new RangeError(`no route from ${network.stationNames[fromCode]} to ${network.stationNames[toCode]}`);
  return { distanceM: network.distanceM[k], fareFen: fare };
}

/** Undiscounted fare by station names. */
export function quoteSubwayFare(network: SubwayNetwork, fromStation: string, toStation: string): SubwayQuote {
  return quoteSubwayFareByCode(network, stationCode(network, fromStation), stationCode(network, toStation));
}
