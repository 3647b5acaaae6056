// Image workers scale by adding replicas
// (`docker compose up --scale image-worker=N`, the chart's HPA or KEDA):
// nothing in their definition may belong to one replica.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  composeVolumes,
  containersOf,
  dockerCompose,
  find,
  isWorkload,
  K8sObject,
  ofKind,
  parseCompose,
  podSpecOf,
  readRepoFile,
  renderChart,
  valueSets,
} from './tools';

jest.setTimeout(60_000);

describe('image workers carry no per-replica state', () => {
  test('the app names each worker after its host and process unless WORKER_ID is set', () => {
    expect(readRepoFile('libs/platform/src/settings.ts')).toContain(
      'WORKER_ID = `${hostname()}-${process.pid}`',
    );
  });

  test('compose: no container name, published port, fixed id, host name or host folder written to', () => {
    const dir = mkdtempSync(join(tmpdir(), 'compose-scale-'));
    try {
      const envFile = join(dir, '.env');
      writeFileSync(envFile, readRepoFile('.env.example'));
      const result = dockerCompose(['config'], envFile);
      expect(result.status).toBe(0);
      const { services } = parseCompose(result.stdout);
      const worker = services['image-worker'];
      expect(worker.container_name).toBeUndefined();
      expect(worker.ports).toBeUndefined();
      expect(worker.hostname).toBeUndefined();
      expect(worker.environment.WORKER_ID).toBeUndefined();
      expect(worker.deploy).toBeUndefined();
      for (const volume of composeVolumes(worker)) {
        // Shared named volumes, or host folders mounted read-only.
        expect(volume.type === 'volume' || volume.read_only === true).toBe(
          true,
        );
      }
      // No service of the stack has a fixed container name (two stacks can run
      // side by side).
      for (const [name, service] of Object.entries(services))
        expect({ name, container_name: service.container_name }).toEqual({
          name,
          container_name: undefined,
        });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test.each(Object.entries(valueSets))(
    'chart (%s values): a Deployment with no host ports, host paths, fixed ids or names',
    (_set, file) => {
      const objects = renderChart(file);
      const workers = objects
        .filter(isWorkload)
        .filter(
          (o) =>
            o.metadata.labels?.['app.kubernetes.io/component'] ===
            'image-worker',
        );
      expect(workers.map((o) => o.kind)).toEqual(['Deployment']);
      const deployment = workers[0];
      const pod = podSpecOf(deployment);
      expect('volumeClaimTemplates' in deployment.spec).toBe(false);
      expect(pod.hostNetwork).toBeUndefined();
      expect(pod.hostname).toBeUndefined();
      expect(pod.subdomain).toBeUndefined();
      expect(pod.nodeName).toBeUndefined();
      for (const volume of pod.volumes ?? [])
        expect(volume.hostPath).toBeUndefined();
      for (const container of containersOf(pod)) {
        for (const port of container.ports ?? [])
          expect(port.hostPort).toBeUndefined();
        expect((container.env ?? []).map((e) => e.name)).not.toContain(
          'WORKER_ID',
        );
      }
      // Its storage is one claim all replicas share, or a bucket.
      const volume = pod.volumes?.find((v) => v.name === 'storage');
      if (!volume) {
        expect(
          pod.containers[0].env?.find((e) => e.name === 'STORAGE_URL')?.value,
        ).toMatch(/^s3:\/\//);
        return;
      }
      const storage = volume.persistentVolumeClaim!.claimName;
      const claim = ofKind(objects, 'PersistentVolumeClaim').find(
        (o) => o.metadata.name === storage,
      );
      if (claim) expect(claim.spec.accessModes).toEqual(['ReadWriteMany']);
    },
  );

  test('chart: the replica count is the only difference between 1 and 5 workers', () => {
    const pick = (objects: K8sObject[]) =>
      find(objects, 'Deployment', 'demo-image-pipeline-image-worker');
    const one = pick(
      renderChart(valueSets.default, [
        'imageWorker.autoscaling.enabled=false',
        'imageWorker.replicas=1',
      ]),
    );
    const five = pick(
      renderChart(valueSets.default, [
        'imageWorker.autoscaling.enabled=false',
        'imageWorker.replicas=5',
      ]),
    );
    expect(one.spec.replicas).toBe(1);
    expect(five.spec.replicas).toBe(5);
    expect({ ...five.spec, replicas: 1 }).toEqual(one.spec);
  });
});
