/**
 * A simulated counterparty (issue 18; docs/settlement.md): another T-Union city's clearing
 * centre, for the tests and the demo. It has its own signing key (our gateway is configured with
 * its certificate), receives our outbound file, verifies our signature and trailer and the TACs of
 * its own cards with its own keys, and answers with its own file: the taps its terminals took on
 * our cards (records made by the caller with real card simulators, so their TACs are the cards').
 */
import { purchaseTacData } from '#core';
import type { IssuerKeysPort } from '../keys/issuer-keys-port.ts';
import { buildClearingFile, type ClearingFile, type ClearingRecord, parseClearingFile } from '../services/clearing-file.ts';
import { type ClearingSigner, ephemeralClearingSigner } from '../services/clearing-key.ts';

export interface OtherCityVerdict {
  file: ClearingFile;
  /** Records whose TAC the city's own keys verify. */
  verified: number;
  verifiedFen: number;
  /** Record numbers whose TAC does not verify (the city will not pay for them). */
  badTacs: number[];
}

export class OtherCity {
  readonly signer: ClearingSigner;
  #sequence = 0;

  constructor(
    readonly name: string,
    /** Its own cards' keys (TAC verification); optional when it only sends. */
    private readonly keys: IssuerKeysPort | null = null,
    signer?: ClearingSigner,
  ) {
    this.signer = signer ?? ephemeralClearingSigner();
  }

  get certificatePem(): string {
    return this.signer.certificatePem;
  }

  /** Its file of our cards' taps for `day` (sequence numbers 1, 2, ... per call). */
  fileFor(receiver: string, day: string, records: readonly ClearingRecord[], sequence = ++this.#sequence): string {
    return buildClearingFile({ sender: this.name, receiver, day, sequence }, records, this.signer);
  }

  /** Verifies a file sent to it (signature under `senderCertificatePem`, trailer) and its own cards' TACs. */
  receive(text: string, senderCertificatePem: string, cardKey: (cardNo: string) => { keyVersion: number; algorithm: '3des' | 'sm4' }): OtherCityVerdict {
    const file = parseClearingFile(text, () => senderCertificatePem);
    const badTacs: number[] = [];
    let verifiedFen = 0;
    for (const [i, r] of file.records.entries()) {
      let ok = false;
      try {
        const key = cardKey(r.cardNo);
        ok = this.keys?.verifyTac({ cardNo: r.cardNo, ...key, data: purchaseTacData(r), tac: Buffer.from(r.tac, 'hex') }) === true;
      } catch {
        ok = false;
      }
      if (ok) verifiedFen += r.amountFen;
      else badTacs.push(i + 1);
    }
    return { file, verified: file.records.length - badTacs.length, verifiedFen, badTacs };
  }
}
