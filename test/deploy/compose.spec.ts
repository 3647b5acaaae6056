// docker-compose.yml and its helpers (deploy/pgadmin, deploy/prometheus, .env.example),
// checked with docker-compose itself (`config`) and against the apps' own settings.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BROKER_ROLES, brokerUsers } from '@pipeline/messaging';
import { BrokerUsersConfig, DatabaseConfig, loadConfig, longestJobHoldMs, ProducerConfig, WorkerConfig, WriterConfig } from '@pipeline/platform';
import { composePorts, composeVolumes, dockerCompose, parseYaml, readRepoFile } from './tools';

jest.setTimeout(60_000);

/** Read by the C library under node, not by the apps. */
const PROCESS_SETTINGS = new Set(['MALLOC_ARENA_MAX']);

const example = readRepoFile('.env.example');
const required = ['RABBITMQ_PASSWORD', 'RABBITMQ_PRODUCER_PASSWORD', 'RABBITMQ_WORKER_PASSWORD', 'RABBITMQ_WRITER_PASSWORD', 'RABBITMQ_ERLANG_COOKIE', 'POSTGRES_PASSWORD', 'ADMIN_API_KEY', 'PGADMIN_EMAIL', 'PGADMIN_PASSWORD'];
const appServices = ['migrate', 'rabbitmq-users', 'producer', 'image-worker', 'results-writer'];
/** The broker user each app connects as. */
const brokerRoleOf = { producer: 'producer', 'image-worker': 'worker', 'results-writer': 'writer' } as const;
let dir: string;
let envFile: string;
let config: any;

/** `docker-compose config` with this env file, parsed; every profile on. */
function composeConfig(file: string): any {
  const result = dockerCompose(['--profile', 'tools', '--profile', 'monitoring', '--profile', 'cluster', 'config'], file);
  if (result.status !== 0) throw new Error(`docker-compose config failed: ${result.stderr}`);
  return parseYaml(result.stdout);
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'compose-'));
  envFile = join(dir, '.env');
  writeFileSync(envFile, example);
  config = composeConfig(envFile);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('docker-compose.yml', () => {
  test('docker-compose config -q accepts it with the settings of .env.example', () => {
    const result = dockerCompose(['config', '-q'], envFile);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(readRepoFile('docker-compose.yml')).not.toMatch(/^version:/m); // the Compose Specification
  });

  test.each(required)('refuses to start without %s in .env: no default secrets', (name) => {
    const file = join(dir, `.env-without-${name}`);
    writeFileSync(file, example.replace(new RegExp(`^${name}=.*$`, 'm'), ''));
    const result = dockerCompose(['config', '-q'], file);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain(`set ${name} in .env`);
  });

  test('no password is written in the file itself', () => {
    for (const line of readRepoFile('docker-compose.yml').split('\n')) {
      if (/PASS/.test(line) && !line.trim().startsWith('#')) expect(line).toMatch(/\$\{[A-Z_]*PASSWORD:\?[^}]+\}/);
    }
  });

  test('.env.example names every variable the file reads, and the apps know every setting it passes', () => {
    const text = readRepoFile('docker-compose.yml');
    const used = new Set([...text.matchAll(/\$\{([A-Z0-9_]+)/g)].map((m) => m[1]));
    const listed = new Set([...example.matchAll(/^([A-Z0-9_]+)=/gm)].map((m) => m[1]));
    expect([...used].filter((name) => !listed.has(name))).toEqual([]);

    const settings = new Set([...readRepoFile('libs/platform/src/settings.ts').matchAll(/\b([A-Z][A-Z0-9_]+)(?::[^=\n]*)?\s=\s/g)].map((m) => m[1]));
    for (const service of appServices.filter((name) => name !== 'rabbitmq-users')) {
      const unknown = Object.keys(config.services[service].environment).filter((name) => !settings.has(name) && !PROCESS_SETTINGS.has(name));
      expect({ service, unknown }).toEqual({ service, unknown: [] });
    }
    const usersSetup = Object.keys(new BrokerUsersConfig());
    expect(Object.keys(config.services['rabbitmq-users'].environment).filter((name) => !usersSetup.includes(name))).toEqual([]);
  });

  test('each app is given only settings its own config reads: no admin key or database for the workers', () => {
    const appConfigs = { migrate: DatabaseConfig, producer: ProducerConfig, 'image-worker': WorkerConfig, 'results-writer': WriterConfig };
    for (const [service, appConfig] of Object.entries(appConfigs)) {
      const reads = new Set(Object.keys(new appConfig()));
      const others = Object.keys(config.services[service].environment).filter((name) => !reads.has(name) && !PROCESS_SETTINGS.has(name));
      expect({ service, others }).toEqual({ service, others: [] });
    }
    const worker = Object.keys(config.services['image-worker'].environment);
    for (const name of ['ADMIN_API_KEY', 'DATABASE_URL', 'DATABASE_POOL_SIZE']) expect(worker).not.toContain(name);
    expect(Object.keys(config.services['results-writer'].environment)).not.toContain('ADMIN_API_KEY');
  });

  test('the services: broker, database, a one-shot migration, the three apps, pgAdmin, Prometheus, two more broker nodes and an S3 server under profiles', () => {
    expect(Object.keys(config.services).sort()).toEqual(['image-worker', 'migrate', 'pgadmin', 'postgres', 'producer', 'prometheus', 'rabbitmq', 'rabbitmq-2', 'rabbitmq-3', 'rabbitmq-users', 'results-writer', 'rgw']);
    expect(config.services.rgw.profiles).toEqual(['s3']);
    expect(config.services['rabbitmq-2'].profiles).toEqual(['cluster']);
    expect(config.services['rabbitmq-3'].profiles).toEqual(['cluster']);
    expect(config.services.pgadmin.profiles).toEqual(['tools']);
    expect(config.services.prometheus.profiles).toEqual(['monitoring']);
    for (const name of ['rabbitmq', 'postgres', ...appServices]) expect(config.services[name].profiles).toBeUndefined();
  });

  test('RabbitMQ and PostgreSQL: official images, named volumes, health checks, passwords from .env', () => {
    const { rabbitmq, postgres } = config.services;
    expect(rabbitmq.image).toMatch(/^rabbitmq:3\.\d+\.\d+-management$/);
    expect(rabbitmq.hostname).toBe('rabbitmq'); // the node name, and with it the data, survives re-creation
    expect(composeVolumes(rabbitmq)).toContainEqual(expect.objectContaining({ source: 'rabbitmq-data', target: '/var/lib/rabbitmq', type: 'volume' }));
    expect(rabbitmq.healthcheck.test).toEqual(['CMD', 'rabbitmq-diagnostics', '-q', 'check_port_connectivity']);
    expect(rabbitmq.environment.RABBITMQ_DEFAULT_PASS).toBe('change-me-rabbitmq');
    expect(postgres.image).toMatch(/^postgres:\d+/);
    expect(composeVolumes(postgres)).toContainEqual(expect.objectContaining({ source: 'postgres-data', target: '/var/lib/postgresql/data', type: 'volume' }));
    expect(postgres.healthcheck.test.slice(0, 2)).toEqual(['CMD', 'pg_isready']);
    expect(postgres.environment.POSTGRES_PASSWORD).toBe('change-me-postgres');
    expect(Object.keys(config.volumes).sort()).toEqual(['pgadmin-data', 'postgres-data', 'prometheus-data', 'rabbitmq-2-data', 'rabbitmq-3-data', 'rabbitmq-data', 'rgw-data', 'storage']);
  });

  test('start order: migrations after a healthy database, broker users after a healthy broker, the apps after both', () => {
    const healthy = { condition: 'service_healthy' };
    const completed = { condition: 'service_completed_successfully' };
    const services = config.services;
    expect(services.migrate.depends_on).toEqual({ postgres: healthy });
    expect(services.migrate.restart).toBe('no');
    expect(services['rabbitmq-users'].depends_on).toEqual({ rabbitmq: healthy });
    expect(services['rabbitmq-users'].restart).toBe('no');
    for (const name of ['producer', 'results-writer']) {
      expect(services[name].depends_on).toEqual({ rabbitmq: healthy, 'rabbitmq-users': completed, postgres: healthy, migrate: completed });
    }
    expect(services['image-worker'].depends_on).toEqual({ rabbitmq: healthy, 'rabbitmq-users': completed });
    for (const name of ['rabbitmq', 'postgres', 'producer', 'image-worker', 'results-writer', 'pgadmin', 'prometheus']) expect(services[name].restart).toBe('unless-stopped');
  });

  test('the apps: one image, the app chosen by command, drained on stop, hardened', () => {
    for (const name of appServices) {
      const service = config.services[name];
      expect(service.image).toBe('image-pipeline:local');
      expect(service.build).toEqual({ context: expect.any(String), dockerfile: 'deploy/Dockerfile' });
      const app = name === 'migrate' || name === 'rabbitmq-users' ? 'migrator' : name;
      expect(service.command).toEqual([`dist/apps/${app}/apps/${app}/src/${name === 'rabbitmq-users' ? 'broker-users' : 'main'}.js`]);
      expect(service.read_only).toBe(true);
      expect(service.cap_drop).toEqual(['ALL']);
    }
    for (const name of ['producer', 'image-worker', 'results-writer']) {
      const service = config.services[name];
      expect(service.tmpfs).toEqual(['/tmp']);
      expect(service.stop_grace_period).toBe('40s'); // longer than SHUTDOWN_GRACE_MS
    }
    expect(config.services.producer.environment.PORT).toBe('3000');
    expect(config.services['image-worker'].environment.PORT).toBe('3001'); // the image's HEALTHCHECK reads PORT
    expect(config.services['results-writer'].environment.PORT).toBe('3002');
    expect(composePorts(config.services.producer)).toEqual([{ target: 3000, published: 3000, host_ip: '127.0.0.1' }]);
    // The workers are given no database: they do not use one.
    expect(config.services['image-worker'].environment.DATABASE_URL).toBeUndefined();
    expect(config.services.producer.environment.DATABASE_URL).toBe('postgres://pipeline:change-me-postgres@postgres:5432/pipeline');
    expect(config.services.producer.environment.AMQP_URL).toBe('amqp://producer:change-me-rabbitmq-producer@rabbitmq:5672');
  });

  test('each app connects as its own broker user, made by rabbitmq-users with the permissions of brokerPermissions(); only the producer declares the topology', () => {
    // With real passwords, as a deployment's .env has them.
    const file = join(dir, '.env-users');
    const secrets: Record<string, string> = { RABBITMQ_PASSWORD: 'Adm1nQx7Kq2mP9vR4t', RABBITMQ_PRODUCER_PASSWORD: 'Pr0dA1b2c3d4e5f6g7', RABBITMQ_WORKER_PASSWORD: 'W0rkB1c2d3e4f5g6h7', RABBITMQ_WRITER_PASSWORD: 'Wr1tC1d2e3f4g5h6i7' };
    writeFileSync(file, Object.entries(secrets).reduce((text, [name, value]) => text.replace(new RegExp(`^${name}=.*$`, 'm'), `${name}=${value}`), example));
    const services = composeConfig(file).services;
    const setup = services['rabbitmq-users'];
    const { rabbitmq } = services;
    // The administrator is the broker's default user, and only the setup knows its password.
    expect(setup.environment.RABBITMQ_MANAGEMENT_URL).toBe(`http://${rabbitmq.environment.RABBITMQ_DEFAULT_USER}:${secrets.RABBITMQ_PASSWORD}@rabbitmq:15672`);
    const setupConfig = loadConfig(BrokerUsersConfig, setup.environment);
    const passwords = { producer: setup.environment.RABBITMQ_PRODUCER_PASSWORD, worker: setup.environment.RABBITMQ_WORKER_PASSWORD, writer: setup.environment.RABBITMQ_WRITER_PASSWORD };
    const users = brokerUsers(setupConfig.AMQP_PREFIX, passwords);
    expect(users.map((user) => user.role)).toEqual([...BROKER_ROLES]);
    for (const [service, role] of Object.entries(brokerRoleOf)) {
      const environment = services[service].environment;
      const url = new URL(environment.AMQP_URL);
      const user = users.find((candidate) => candidate.role === role)!;
      expect({ service, user: url.username, password: url.password, vhost: url.pathname || '/' }).toEqual({ service, user: user.name, password: user.password, vhost: setupConfig.RABBITMQ_VHOST });
      // The permissions are made for the prefix the app uses.
      expect({ service, prefix: environment.AMQP_PREFIX }).toEqual({ service, prefix: setup.environment.AMQP_PREFIX });
      expect({ service, topology: environment.AMQP_TOPOLOGY }).toEqual({ service, topology: role === 'producer' ? 'declare' : 'check' });
      expect(() => loadConfig(WorkerConfig, { AMQP_TOPOLOGY: environment.AMQP_TOPOLOGY })).not.toThrow();
    }
    for (const name of ['producer', 'image-worker', 'results-writer', 'migrate']) expect({ name, admin: JSON.stringify(services[name].environment).includes(secrets.RABBITMQ_PASSWORD) }).toEqual({ name, admin: false });
  });

  test('the producer takes its admin key from .env, and keeps /metrics on an unpublished port', () => {
    const producer = config.services.producer;
    expect(producer.environment.ADMIN_API_KEY).toBe(example.match(/^ADMIN_API_KEY=(.*)$/m)![1]);
    expect(producer.environment.METRICS_PORT).toBe('9464');
    expect(composePorts(producer).map((port) => port.target)).toEqual([3000]);
    for (const name of ['image-worker', 'results-writer']) expect(config.services[name].environment.ADMIN_API_KEY).toBeUndefined();
  });

  test('storage is one named volume shared by the producer, the workers and the writer (its retention sweep); the images folder a read-only bind mount', () => {
    for (const name of ['producer', 'image-worker']) {
      const service = config.services[name];
      const volumes = composeVolumes(service);
      expect(volumes).toContainEqual(expect.objectContaining({ type: 'volume', source: 'storage', target: '/data/storage', read_only: false }));
      expect(volumes).toContainEqual(expect.objectContaining({ type: 'bind', target: '/images', read_only: true }));
      expect(volumes.find((v) => v.target === '/images')!.source).toMatch(/\/data\/images$/);
      expect(service.environment).toMatchObject({ STORAGE_DIR: '/data/storage', IMAGES_DIR: '/images' });
    }
    const writer = config.services['results-writer'];
    expect(composeVolumes(writer)).toEqual([expect.objectContaining({ type: 'volume', source: 'storage', target: '/data/storage', read_only: false })]);
    expect(writer.environment).toMatchObject({ STORAGE_DIR: '/data/storage' });
    expect(Object.keys(writer.environment)).toEqual(expect.arrayContaining(['RETENTION_UPLOADS_S', 'RETENTION_OUTPUTS_S', 'RETENTION_JOBS_S', 'RETENTION_SWEEP_INTERVAL_S']));
  });

  test('profile s3: STORAGE_URL and the S3 settings from .env reach the producer, the workers and the writer; the gateway makes the same user', () => {
    const file = join(dir, '.env.s3');
    const s3 = {
      STORAGE_URL: 's3://pipeline/blobs',
      S3_FORCE_PATH_STYLE: 'true',
      AWS_ENDPOINT_URL_S3: 'http://rgw:7480',
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'PIPELINEKEY0123456789',
      AWS_SECRET_ACCESS_KEY: 'a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0',
    };
    writeFileSync(file, `${example}\n${Object.entries(s3).map(([name, value]) => `${name}=${value}`).join('\n')}\nRESULT_DELIVERY=redirect\n`);
    const rendered = composeConfig(file);
    for (const service of ['producer', 'image-worker', 'results-writer']) {
      expect({ service, env: rendered.services[service].environment }).toEqual({ service, env: expect.objectContaining(s3) });
      // The settings as the app takes them: a bucket, no shared folder needed.
      const cls: new () => { STORAGE_URL: string } = { producer: ProducerConfig, 'image-worker': WorkerConfig, 'results-writer': WriterConfig }[service]!;
      const env = Object.fromEntries(Object.entries(rendered.services[service].environment).filter(([, value]) => value !== '' && value !== null)) as Record<string, string>;
      expect(loadConfig(cls, { ...env, ADMIN_API_KEY: 'q3V8xN1rT6mZ0bL4wY7cK2jH9sF5dApE', AMQP_URL: 'amqp://u:realpassword1@rabbitmq:5672', DATABASE_URL: 'postgres://p:realpassword1@postgres/p' }).STORAGE_URL).toBe('s3://pipeline/blobs');
    }
    expect(rendered.services.producer.environment.RESULT_DELIVERY).toBe('redirect');
    expect(rendered.services.rgw.build.context).toMatch(/deploy\/rgw$/);
    expect(rendered.services.rgw.environment).toMatchObject({ S3_ACCESS_KEY_ID: s3.AWS_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY: s3.AWS_SECRET_ACCESS_KEY, S3_BUCKET: 'pipeline' });
    expect(rendered.services.rgw.volumes).toEqual(['rgw-data:/var/lib/ceph-s3:rw']);
  });

  test('pgAdmin starts with the database registered, as the compose file names it', () => {
    const { pgadmin, postgres } = config.services;
    expect(pgadmin.image).toMatch(/^dpage\/pgadmin4:/);
    expect(pgadmin.environment).toMatchObject({ PGADMIN_DEFAULT_EMAIL: 'admin@example.com', PGADMIN_DEFAULT_PASSWORD: 'change-me-pgadmin' });
    const mount = composeVolumes(pgadmin).find((v) => v.target === '/pgadmin4/servers.json')!;
    expect(mount).toMatchObject({ type: 'bind', read_only: true });
    expect(mount.source).toMatch(/deploy\/pgadmin\/servers\.json$/);
    const server = JSON.parse(readRepoFile('deploy/pgadmin/servers.json')).Servers['1'];
    expect(server).toMatchObject({ Host: 'postgres', Port: 5432, MaintenanceDB: postgres.environment.POSTGRES_DB, Username: postgres.environment.POSTGRES_USER });
    expect(composePorts(pgadmin)).toEqual([{ target: 80, published: 5050, host_ip: '127.0.0.1' }]);
  });

  test('profile cluster: rabbitmq-2 and rabbitmq-3 join rabbit@rabbitmq, with the same image, cookie and credentials; AMQP_URL can name all three', () => {
    const { rabbitmq } = config.services;
    const clusterConf = readRepoFile('deploy/rabbitmq/cluster.conf');
    expect(clusterConf).toContain('cluster_formation.peer_discovery_backend = classic_config');
    for (const [index, name] of ['rabbitmq', 'rabbitmq-2', 'rabbitmq-3'].entries()) {
      expect(clusterConf).toContain(`cluster_formation.classic_config.nodes.${index + 1} = rabbit@${name}`);
      const node = config.services[name];
      expect(node.hostname).toBe(name);
      expect(node.image).toBe(rabbitmq.image);
      expect(node.environment).toEqual(rabbitmq.environment);
      expect(node.environment.RABBITMQ_ERLANG_COOKIE).toBe('change-me-erlang-cookie');
      expect(node.healthcheck.test).toEqual(rabbitmq.healthcheck.test);
      expect(node.restart).toBe('unless-stopped');
    }
    for (const name of ['rabbitmq-2', 'rabbitmq-3']) {
      const volumes = composeVolumes(config.services[name]);
      expect(volumes).toContainEqual(expect.objectContaining({ type: 'volume', source: `${name}-data`, target: '/var/lib/rabbitmq' }));
      const conf = volumes.find((v) => v.target === '/etc/rabbitmq/conf.d/20-cluster.conf')!;
      expect(conf).toMatchObject({ type: 'bind', read_only: true });
      expect(conf.source).toMatch(/deploy\/rabbitmq\/cluster\.conf$/);
      expect(config.services[name].depends_on).toEqual({ rabbitmq: { condition: 'service_healthy' } });
      expect(config.services[name].ports).toBeUndefined();
    }

    const file = join(dir, '.env-cluster');
    writeFileSync(file, example.replace(/^RABBITMQ_HOSTS=.*$/m, 'RABBITMQ_HOSTS=rabbitmq:5672,rabbitmq-2:5672,rabbitmq-3:5672'));
    const clustered = composeConfig(file);
    for (const [name, role] of Object.entries(brokerRoleOf)) {
      expect(clustered.services[name].environment.AMQP_URL).toBe(`amqp://${role}:change-me-rabbitmq-${role}@rabbitmq:5672,rabbitmq-2:5672,rabbitmq-3:5672`);
    }
    expect(example).toMatch(/^#\s+RABBITMQ_HOSTS=rabbitmq:5672,rabbitmq-2:5672,rabbitmq-3:5672$/m);
  });

  test("every broker node sets consumer_timeout explicitly, to the workers' AMQP_CONSUMER_TIMEOUT_MS, far above a job's deadline", () => {
    const conf = readRepoFile('deploy/rabbitmq/pipeline.conf');
    const timeoutMs = Number(/^consumer_timeout = (\d+)$/m.exec(conf)?.[1]);
    expect(timeoutMs).toBe(1_800_000);
    const worker = loadConfig(WorkerConfig, {});
    expect(worker.AMQP_CONSUMER_TIMEOUT_MS).toBe(timeoutMs);
    expect(longestJobHoldMs(worker) * 2).toBeLessThanOrEqual(timeoutMs);
    for (const name of ['rabbitmq', 'rabbitmq-2', 'rabbitmq-3']) {
      const mount = composeVolumes(config.services[name]).find((v) => v.target === '/etc/rabbitmq/conf.d/10-pipeline.conf');
      expect(mount).toMatchObject({ type: 'bind', read_only: true });
      expect(mount!.source).toMatch(/deploy\/rabbitmq\/pipeline\.conf$/);
    }
    expect(config.services['image-worker'].environment.AMQP_CONSUMER_TIMEOUT_MS).toBe('');
  });

  test('the image-workers run with two malloc arenas, which keeps their RSS from creeping up under sharp', () => {
    expect(config.services['image-worker'].environment.MALLOC_ARENA_MAX).toBe('2');
    expect(readRepoFile('deploy/Dockerfile')).toMatch(/^\s+MALLOC_ARENA_MAX=2 \\$/m);
  });

  test('Prometheus scrapes /metrics of every app, every worker replica through Docker DNS', () => {
    const prometheus = parseYaml(readRepoFile('deploy/prometheus/prometheus.yml')) as any;
    const jobs = Object.fromEntries(prometheus.scrape_configs.map((job: any) => [job.job_name, job]));
    expect(jobs.producer.static_configs[0].targets).toEqual(['producer:9464']);
    expect(jobs['results-writer'].static_configs[0].targets).toEqual(['results-writer:3002']);
    expect(jobs['image-worker'].dns_sd_configs).toEqual([expect.objectContaining({ names: ['image-worker'], type: 'A', port: 3001 })]);
    expect(jobs.rabbitmq.static_configs[0].targets).toEqual(['rabbitmq:15692']);
    for (const job of Object.values(jobs) as any[]) expect(job.metrics_path ?? '/metrics').toBe('/metrics');
    const service = config.services.prometheus;
    expect(composeVolumes(service)).toContainEqual(expect.objectContaining({ type: 'bind', target: '/etc/prometheus/prometheus.yml', read_only: true }));
  });
});
