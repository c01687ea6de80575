/** Who is calling: resolved once per request by the auth hook (auth-hook.ts). */
export type Role = 'operator' | 'counter' | 'app' | 'device';
export const ROLES: readonly Role[] = ['operator', 'counter', 'app', 'device'];

export interface Principal {
  role: Role;
  /** operator: token label or 'admin'; counter: branch id; app: card number; device: device id. */
  subject: string;
  /** Counter tokens carry the bank branch or service point. */
  branchId: string | null;
  /** App sessions opened with the initial password may only change it. */
  mustChangePassword: boolean;
}
