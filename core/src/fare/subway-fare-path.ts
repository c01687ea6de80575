/**
 * The fare path of a subway trip: which lines the fare was computed over, and how far on each.
 * The revenue split (revenue-split.ts) divides a trip's charge by it.
 *
 * `SubwayFarePathModel` is the interface; `shortestFarePathModel` is the default [P]: the path
 * the fare itself was computed on (subway-network.ts), so a split never uses a route the fare
 * did not. A multi-path model (the "two phases, two proportions" method of DOMAIN.md section 8,
 * coefficients unknown) replaces it by returning one part per likely path with `fareWeight`
 * = the path's share × its fare.
 *
 * A path is a list of parts, each priced by one rule:
 * - the main network (distance bands): the shortest path's legs, one per line stretch;
 * - a special line (首都机场线, 大兴机场线, 西郊线): the distance along it.
 * A trip between a special-only station and the main network has a special part and a main part,
 * exactly the combination the network quoted (cheapest transfer; the candidate whose fare and
 * distance equal the network's quote is taken). `fareWeight` is the part's own undiscounted fare.
 * Shortest-path ties: Dijkstra over the sections in CSV order keeps the first path found; a
 * section two lines share (same two stations) belongs to the shorter one, then the first in the
 * CSV. A zero-length trip (same station, outside the free window) has one leg of 0 m on the
 * station's first line in CSV order (the exit line).
 */
import { distanceBandFareFen } from './distance-bands.ts';
import type { SpecialLineRule } from './subway-fare-policy.ts';
import { isStationCode, parseSubwaySections, type SubwayNetwork, UnknownStationError } from './subway-network.ts';

export interface FarePathLeg {
  line: string;
  distanceM: number;
}

export interface FarePathPart {
  /** The part's undiscounted fare, fen (or any non-negative weight a model gives it). */
  fareWeight: number;
  /** In travel order; distances are integers >= 0. */
  legs: FarePathLeg[];
}

export interface FarePath {
  /** In travel order; the last part's last leg is on the exit line. */
  parts: FarePathPart[];
  exitLine: string;
}

export interface SubwayFarePathModel {
  readonly name: string;
  /** The fare path between two station codes; throws UnknownStationError or RangeError (no route). */
  pathOf(entryCode: number, exitCode: number): FarePath;
}

interface Edge {
  to: number;
  distanceM: number;
  line: number;
}

function specialFare(rule: SpecialLineRule, distanceM: number): number {
  if (rule.kind === 'flat') return rule.flatFareFen;
  if (!rule.distanceRule) throw new RangeError(`special line ${rule.line}: distance rule missing`);
  return distanceBandFareFen(rule.distanceRule, distanceM);
}

/** Adjacency (undirected) over the given sections; a pair on two lines keeps the shorter, then the first. */
function adjacency(side: number, sections: Array<{ a: number; b: number; distanceM: number; line: number }>): Edge[][] {
  const best = new Map<number, { distanceM: number; line: number }>();
  for (const s of sections) {
    for (const key of [s.a * side + s.b, s.b * side + s.a]) {
      const prev = best.get(key);
      if (prev === undefined || s.distanceM < prev.distanceM) best.set(key, { distanceM: s.distanceM, line: s.line });
    }
  }
  const adj: Edge[][] = Array.from({ length: side }, () => []);
  for (const s of sections) {
    for (const [from, to] of [
      [s.a, s.b],
      [s.b, s.a],
    ]) {
      const chosen = best.get(from * side + to)!;
      if (chosen.line === s.line && chosen.distanceM === s.distanceM && !adj[from].some((e) => e.to === to))
        adj[from].push({ to, distanceM: s.distanceM, line: s.line });
    }
  }
  return adj;
}

/** Dijkstra from `source`: distance and predecessor (node, line) per node. */
function shortestTree(adj: Edge[][], source: number): { dist: Float64Array; prev: Int32Array; prevLine: Int32Array } {
  const side = adj.length;
  const dist = new Float64Array(side).fill(Infinity);
  const prev = new Int32Array(side).fill(-1);
  const prevLine = new Int32Array(side).fill(-1);
  const done = new Uint8Array(side);
  dist[source] = 0;
  // Small graphs (a few hundred nodes): a linear scan for the minimum keeps the order explicit.
  for (;;) {
    let node = -1;
    let best = Infinity;
    for (let i = 0; i < side; i++) {
      if (!done[i] && dist[i] < best) {
        best = dist[i];
        node = i;
      }
    }
    if (node < 0) break;
    done[node] = 1;
    for (const e of adj[node]) {
      const nd = best + e.distanceM;
      if (nd < dist[e.to]) {
        dist[e.to] = nd;
        prev[e.to] = node;
        prevLine[e.to] = e.line;
      }
    }
  }
  return { dist, prev, prevLine };
}

interface Exit {
  line: number;
  transfer: number;
  distanceM: number;
  fareFen: number;
}

/**
 * The default model: the fare's own shortest path. Built once per network (one shortest-path
 * tree per main-network station, computed on first use of that entry station).
 */
export function shortestFarePathModel(network: SubwayNetwork): SubwayFarePathModel {
  const side = network.side;
  const sections = parseSubwaySections(network.csvText);
  const lineNames: string[] = [];
  const lineIndex = new Map<string, number>();
  for (const s of sections) {
    if (!lineIndex.has(s.line)) {
      lineIndex.set(s.line, lineNames.length);
      lineNames.push(s.line);
    }
  }
  const specialRule = new Map<number, SpecialLineRule>();
  for (const rule of network.policy.special) {
    const index = lineIndex.get(rule.line);
    if (index !== undefined) specialRule.set(index, rule);
  }
  const coded = sections.map((s) => ({
    a: network.codeByName.get(s.from)!,
    b: network.codeByName.get(s.to)!,
    distanceM: s.distanceM,
    line: lineIndex.get(s.line)!,
  }));
  const mainAdj = adjacency(
    side,
    coded.filter((s) => !specialRule.has(s.line)),
  );
  // First line (CSV order) of each station, main lines first: the exit line of a zero-length trip.
  const firstLine = new Int32Array(side).fill(-1);
  for (const s of coded) {
    if (specialRule.has(s.line)) continue;
    if (firstLine[s.a] < 0) firstLine[s.a] = s.line;
    if (firstLine[s.b] < 0) firstLine[s.b] = s.line;
  }
  for (const s of coded) {
    if (firstLine[s.a] < 0) firstLine[s.a] = s.line;
    if (firstLine[s.b] < 0) firstLine[s.b] = s.line;
  }
  // Special lines: the distance along each line between its stations.
  const specialDist = new Map<number, Map<number, Float64Array>>();
  const specialLinesOf = new Map<number, number[]>();
  for (const line of specialRule.keys()) {
    const adj = adjacency(
      side,
      coded.filter((s) => s.line === line),
    );
    const members = new Set<number>();
    for (const s of coded) if (s.line === line) members.add(s.a).add(s.b);
    const table = new Map<number, Float64Array>();
    for (const code of members) {
      table.set(code, shortestTree(adj, code).dist);
      const list = specialLinesOf.get(code) ?? [];
      list.push(line);
      specialLinesOf.set(code, list);
    }
    specialDist.set(line, table);
  }
  const trees: Array<ReturnType<typeof shortestTree> | undefined> = [];
  const treeOf = (code: number): ReturnType<typeof shortestTree> => {
    let tree = trees[code];
    if (tree === undefined) trees[code] = tree = shortestTree(mainAdj, code);
    return tree;
  };
  /** Main-network legs from a to b (both on the main network), in travel order. */
  const mainLegs = (a: number, b: number): FarePathLeg[] => {
    if (a === b) return [];
    const tree = treeOf(a);
    if (tree.dist[b] === Infinity) throw new RangeError(`no route from ${network.stationNames[a]} to ${network.stationNames[b]}`);
    const reversed: FarePathLeg[] = [];
    for (let node = b; node !== a; node = tree.prev[node]) {
      const from = tree.prev[node];
      const line = lineNames[tree.prevLine[node]];
      const d = tree.dist[node] - tree.dist[from];
      const last = reversed[reversed.length - 1];
      if (last !== undefined && last.line === line) last.distanceM += d;
      else reversed.push({ line, distanceM: d });
    }
    return reversed.reverse();
  };
  const exitsOf = (code: number): Exit[] => {
    const exits: Exit[] = [];
    for (const line of specialLinesOf.get(code) ?? []) {
      for (const [transfer, dist] of specialDist.get(line)!) {
        if (!network.onMainNetwork[transfer]) continue;
        const d = dist[code];
        if (d === Infinity) continue;
        exits.push({ line, transfer, distanceM: d, fareFen: specialFare(specialRule.get(line)!, d) });
      }
    }
    return exits;
  };
  const specialPart = (line: number, distanceM: number): FarePathPart => ({
    fareWeight: specialFare(specialRule.get(line)!, distanceM),
    legs: [{ line: lineNames[line], distanceM }],
  });
  const finish = (parts: FarePathPart[], fallbackExit: number): FarePath => {
    const kept = parts.filter((p) => p.legs.length > 0);
    const lastPart = kept[kept.length - 1];
    const exitLine = lastPart === undefined ? lineNames[firstLine[fallbackExit]] : lastPart.legs[lastPart.legs.length - 1].line;
    if (kept.length === 0) kept.push({ fareWeight: network.fareFen[fallbackExit * side + fallbackExit], legs: [{ line: exitLine, distanceM: 0 }] });
    return { parts: kept, exitLine };
  };
  return {
    name: 'shortest-path',
    pathOf(entryCode: number, exitCode: number): FarePath {
      if (!isStationCode(network, entryCode)) throw new UnknownStationError(entryCode);
      if (!isStationCode(network, exitCode)) throw new UnknownStationError(exitCode);
      const k = entryCode * side + exitCode;
      const quotedFare = network.fareFen[k];
      const quotedDistance = network.distanceM[k];
      if (quotedFare < 0) throw new RangeError(`no route from ${network.stationNames[entryCode]} to ${network.stationNames[exitCode]}`);
      const onMain = network.onMainNetwork;
      if (onMain[entryCode] && onMain[exitCode]) {
        const legs = mainLegs(entryCode, exitCode);
        return finish([{ fareWeight: quotedFare, legs }], exitCode);
      }
      // Same special-only station: the line's minimum fare, 0 m.
      if (entryCode === exitCode) {
        const line = (specialLinesOf.get(entryCode) ?? [])[0];
        if (line !== undefined) return finish([specialPart(line, 0)], exitCode);
      }
      // The candidate the network quoted: same fare and distance (see the module comment).
      for (const line of specialLinesOf.get(entryCode) ?? []) {
        const d = specialDist.get(line)!.get(entryCode)![exitCode];
        if (d === undefined || d === Infinity || !(specialLinesOf.get(exitCode) ?? []).includes(line)) continue;
        if (specialFare(specialRule.get(line)!, d) === quotedFare && d === quotedDistance) return finish([specialPart(line, d)], exitCode);
      }
      const self = (code: number): Exit[] => [{ line: -1, transfer: code, distanceM: 0, fareFen: 0 }];
      const exitsA = onMain[entryCode] ? self(entryCode) : exitsOf(entryCode);
      const exitsB = onMain[exitCode] ? self(exitCode) : exitsOf(exitCode);
      for (const ea of exitsA) {
        for (const eb of exitsB) {
          let midFare = 0;
          let midDist = 0;
          if (ea.transfer !== eb.transfer) {
            const m = ea.transfer * side + eb.transfer;
            if (network.fareFen[m] < 0) continue;
            midFare = network.fareFen[m];
            midDist = network.distanceM[m];
          }
          if (ea.fareFen + midFare + eb.fareFen !== quotedFare || ea.distanceM + midDist + eb.distanceM !== quotedDistance) continue;
          const parts: FarePathPart[] = [];
          if (ea.line >= 0) parts.push(specialPart(ea.line, ea.distanceM));
          if (ea.transfer !== eb.transfer) parts.push({ fareWeight: midFare, legs: mainLegs(ea.transfer, eb.transfer) });
          if (eb.line >= 0) parts.push(specialPart(eb.line, eb.distanceM));
          return finish(parts, exitCode);
        }
      }
      throw new RangeError(`no fare path from ${network.stationNames[entryCode]} to ${network.stationNames[exitCode]} matches the quoted fare`);
    },
  };
}
