import {
  BROKER_ROLES,
  BrokerPermission,
  brokerPermissions,
  BrokerRole,
} from './permissions';

/**
 * One app's broker user as it should be: its name, password and permissions in
 * the vhost.
 */
export interface BrokerUser {
  role: BrokerRole;
  name: string;
  password: string;
  permission: BrokerPermission;
}

/**
 * The users of the apps of one pipeline (named after their role), with the
 * permissions brokerPermissions() gives them.
 */
export function brokerUsers(
  prefix: string,
  passwords: Record<BrokerRole, string>,
): BrokerUser[] {
  const permissions = brokerPermissions(prefix);
  return BROKER_ROLES.map((role) => ({
    role,
    name: role,
    password: passwords[role],
    permission: permissions[role],
  }));
}

/**
 * What creating users needs from the broker: RabbitMQ's management HTTP API, or
 * a stand-in.
 */
export interface BrokerUserAdmin {
  /**
   * Creates the user, or sets its password; it gets no tags (no management UI,
   * no administration).
   */
  putUser(name: string, password: string): Promise<void>;
  putPermission(
    vhost: string,
    user: string,
    permission: BrokerPermission,
  ): Promise<void>;
}

/**
 * Creates or updates every user and sets its permissions, replacing what it
 * had: running it again is harmless.
 */
export async function applyBrokerUsers(
  admin: BrokerUserAdmin,
  vhost: string,
  users: BrokerUser[],
): Promise<void> {
  for (const user of users) {
    await admin.putUser(user.name, user.password);
    await admin.putPermission(vhost, user.name, user.permission);
  }
}

/**
 * RabbitMQ's management HTTP API (the management plugin), as an administrator:
 * `url` is http(s)://user:password@host:15672. Until the API answers (the
 * broker still starting) it tries again, for up to `waitMs`; a refusal (wrong
 * credentials, not an administrator) fails at once.
 */
export class RabbitManagementApi implements BrokerUserAdmin {
  private readonly base: string;
  private readonly authorization: string;

  constructor(
    url: string,
    private readonly waitMs = 60_000,
  ) {
    const parsed = new URL(url);
    this.authorization = `Basic ${Buffer.from(`${decodeURIComponent(parsed.username)}:${decodeURIComponent(parsed.password)}`).toString('base64')}`;
    parsed.username = '';
    parsed.password = '';
    this.base = parsed.toString().replace(/\/$/, '');
  }

  putUser(name: string, password: string): Promise<void> {
    return this.put(
      `/api/users/${encodeURIComponent(name)}`,
      { password, tags: '' },
      `user ${name}`,
    );
  }

  putPermission(
    vhost: string,
    user: string,
    permission: BrokerPermission,
  ): Promise<void> {
    return this.put(
      `/api/permissions/${encodeURIComponent(vhost)}/${encodeURIComponent(user)}`,
      permission,
      `the permissions of ${user} in vhost ${vhost}`,
    );
  }

  private async put(path: string, body: object, what: string): Promise<void> {
    const deadline = Date.now() + this.waitMs;
    for (;;) {
      let response: Response | undefined;
      let failure: string;
      try {
        response = await fetch(`${this.base}${path}`, {
          method: 'PUT',
          headers: {
            authorization: this.authorization,
            'content-type': 'application/json',
          },
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(10_000),
        });
        if (response.ok) return;
        const text = (await response.text()).slice(0, 300);
        failure = `answered ${response.status}: ${text}`;
        if (response.status === 401 || response.status === 403)
          throw new Error(
            `RabbitMQ's management API at ${this.base} refused the administrator's credentials (${response.status}) setting ${what}`,
          );
        if (response.status < 500)
          throw new Error(
            `RabbitMQ's management API at ${this.base} refused setting ${what}: ${failure}`,
          );
      } catch (error) {
        if (response) throw error;
        failure = (error as Error).message;
      }
      if (Date.now() > deadline)
        throw new Error(
          `RabbitMQ's management API at ${this.base} did not take ${what} within ${this.waitMs} ms: ${failure}`,
        );
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}
