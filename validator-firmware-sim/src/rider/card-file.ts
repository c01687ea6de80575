/**
 * A single card kept in a file (an encoded card image, `parseCardImage`/`encodeCardImage`),
 * with its transaction proofs beside it in `<file>.proofs`. Written back (atomically) after
 * every command that changes the card, like the wallet.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { pack, unpack } from 'msgpackr';
import { CardSimulator, encodeCardImage, parseCardImage, type CardImage, type TransactionProof } from '#core';
import { PersistentCard } from './card-wallet.ts';

function writeAtomic(path: string, bytes: Uint8Array): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, bytes);
  renameSync(tmp, path);
}

export function writeCardFile(path: string, image: CardImage, proofs: readonly TransactionProof[] = []): void {
  writeAtomic(`${path}.proofs`, pack(proofs.map((p) => ({ ...p, mac: Buffer.from(p.mac), tac: Buffer.from(p.tac) }))));
  writeAtomic(path, encodeCardImage(image));
}

export function readCardFile(path: string): { image: CardImage; proofs: TransactionProof[] } {
  const image = parseCardImage(new Uint8Array(readFileSync(path)));
  const proofsPath = `${path}.proofs`;
  const proofs = existsSync(proofsPath)
    ? (unpack(readFileSync(proofsPath)) as TransactionProof[]).map((p) => ({ ...p, mac: new Uint8Array(p.mac), tac: new Uint8Array(p.tac) }))
    : [];
  return { image, proofs };
}

export function presentCardFile(path: string, random: () => Uint8Array = () => new Uint8Array(randomBytes(4))): PersistentCard {
  const { image, proofs } = readCardFile(path);
  return new PersistentCard(new CardSimulator(image, random, { proofs }), (sim) => writeCardFile(path, sim.image(), sim.proofs()));
}
