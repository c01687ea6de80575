/** Who is calling: resolved once per request by the auth hook (auth-hook.ts). */
import type { ChannelOrganisation, StaffRole } from '../services/channel-rules.ts';

/**
 * operator: the issuer's staff (back office); counter: a teller system of an organisation;
 * app: a cardholder session (card + service password); holder: a holder account session
 * (ID number + password, online channel, for what happens before or without a card);
 * device: a validator.
 */
export type Role = 'operator' | 'counter' | 'app' | 'holder' | 'device';
export const ROLES: readonly Role[] = ['operator', 'counter', 'app', 'holder', 'device'];

export type { ChannelOrganisation as PrincipalOrganisation, StaffRole } from '../services/channel-rules.ts';

export interface Principal {
  role: Role;
  /** operator: token label or 'admin'; counter: branch id; app: card number; holder: holder id; device: device id. */
  subject: string;
  /** Counter tokens carry the bank branch or service point. */
  branchId: string | null;
  /** App sessions opened with the initial password may only change it. */
  mustChangePassword: boolean;
  /**
   * The organisation the caller acts for, with its channel kind (services/channel-rules.ts):
   * a counter's organisation; app and holder sessions act for the online channel ('online');
   * operators and devices have none.
   */
  organisation: ChannelOrganisation | null;
  /** Counter credentials: teller or supervisor; null for every other role. */
  staffRole: StaffRole | null;
}

/** The online channel's organisation: app and holder sessions act through it (migration 007 seeds its row). */
export const ONLINE_ORGANISATION: ChannelOrganisation = { id: 'online', channelKind: 'online', bankId: null, branchId: null };
