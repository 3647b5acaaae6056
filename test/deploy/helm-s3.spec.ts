import { ProducerConfig, WorkerConfig, WriterConfig } from '@pipeline/platform';
import {
  find,
  helm,
  chartDir,
  K8sObject,
  podSpecOf,
  renderChart,
  valueSets,
} from './tools';

/**
 * The chart with `storage.type: s3`: the apps reach a bucket, and no claim is
 * made or mounted.
 */
const apps = [
  'demo-image-pipeline-producer',
  'demo-image-pipeline-image-worker',
  'demo-image-pipeline-results-writer',
];
const envOf = (objects: K8sObject[], name: string) =>
  podSpecOf(find(objects, 'Deployment', name)).containers[0].env as Array<{
    name: string;
    value?: string;
    valueFrom?: unknown;
  }>;

describe('Helm chart with storage.type s3', () => {
  test('AWS S3 with IRSA: STORAGE_URL and the region, a service account annotated with the role, no claim, no storage volume', () => {
    const objects = renderChart(undefined, [
      'image.repository=registry.example.com/image-pipeline',
      'storage.type=s3',
      'storage.s3.bucket=images-prod',
      'storage.s3.prefix=pipeline',
      'storage.s3.region=eu-west-1',
      'serviceAccount.annotations.eks\\.amazonaws\\.com/role-arn=arn:aws:iam::123456789012:role/pipeline',
      'storage.s3.resultDelivery=redirect',
    ]);
    expect(
      objects.filter((object) => object.kind === 'PersistentVolumeClaim'),
    ).toEqual([]);
    const account = find(objects, 'ServiceAccount', 'demo-image-pipeline');
    expect(account.metadata.annotations).toEqual({
      'eks.amazonaws.com/role-arn': 'arn:aws:iam::123456789012:role/pipeline',
    });
    for (const name of apps) {
      const pod = podSpecOf(find(objects, 'Deployment', name));
      expect(pod.serviceAccountName).toBe('demo-image-pipeline');
      expect(
        (pod.volumes ?? []).map((volume: { name: string }) => volume.name),
      ).not.toContain('storage');
      expect(
        (pod.containers[0].volumeMounts ?? []).map(
          (mount: { name: string }) => mount.name,
        ),
      ).not.toContain('storage');
      const env = envOf(objects, name);
      expect(env).toEqual(
        expect.arrayContaining([
          { name: 'STORAGE_URL', value: 's3://images-prod/pipeline' },
          { name: 'AWS_REGION', value: 'eu-west-1' },
          { name: 'S3_FORCE_PATH_STYLE', value: 'false' },
        ]),
      );
      expect(env.map((entry) => entry.name)).not.toContain('STORAGE_DIR');
      expect(env.map((entry) => entry.name)).not.toContain('AWS_ACCESS_KEY_ID');
    }
    expect(envOf(objects, 'demo-image-pipeline-producer')).toContainEqual({
      name: 'RESULT_DELIVERY',
      value: 'redirect',
    });
  });

  test("Rook-Ceph: the ObjectBucketClaim's ConfigMap gives the bucket and endpoint, its Secret the credentials", () => {
    const objects = renderChart(valueSets.s3);
    expect(
      objects.filter(
        (object) =>
          object.kind === 'PersistentVolumeClaim' ||
          (object.kind === 'ServiceAccount' &&
            object.metadata.name.endsWith('-storage')),
      ),
    ).toEqual([]);
    for (const name of apps) {
      const env = envOf(objects, name);
      const names = env.map((entry) => entry.name);
      // Kubernetes expands $(VAR) from variables defined before it.
      expect(names.indexOf('BUCKET_NAME')).toBeLessThan(
        names.indexOf('STORAGE_URL'),
      );
      expect(env).toEqual(
        expect.arrayContaining([
          {
            name: 'BUCKET_NAME',
            valueFrom: {
              configMapKeyRef: { name: 'pipeline-bucket', key: 'BUCKET_NAME' },
            },
          },
          { name: 'STORAGE_URL', value: 's3://$(BUCKET_NAME)/pipeline' },
          {
            name: 'AWS_ENDPOINT_URL_S3',
            value: 'http://$(BUCKET_HOST):$(BUCKET_PORT)',
          },
          { name: 'S3_FORCE_PATH_STYLE', value: 'true' },
          {
            name: 'AWS_ACCESS_KEY_ID',
            valueFrom: {
              secretKeyRef: {
                name: 'pipeline-bucket',
                key: 'AWS_ACCESS_KEY_ID',
              },
            },
          },
          {
            name: 'AWS_SECRET_ACCESS_KEY',
            valueFrom: {
              secretKeyRef: {
                name: 'pipeline-bucket',
                key: 'AWS_SECRET_ACCESS_KEY',
              },
            },
          },
        ]),
      );
    }
  });

  test("every setting the chart gives an app is one its config reads (the ObjectBucketClaim's own aside)", () => {
    const objects = renderChart(valueSets.s3);
    const reads = {
      'demo-image-pipeline-producer': ProducerConfig,
      'demo-image-pipeline-image-worker': WorkerConfig,
      'demo-image-pipeline-results-writer': WriterConfig,
    };
    for (const [name, cls] of Object.entries(reads)) {
      const known = new Set([
        ...Object.keys(new cls()),
        'BUCKET_NAME',
        'BUCKET_HOST',
        'BUCKET_PORT',
        'MALLOC_ARENA_MAX',
      ]);
      expect({
        name,
        unknown: envOf(objects, name)
          .map((entry) => entry.name)
          .filter((setting) => !known.has(setting)),
      }).toEqual({ name, unknown: [] });
    }
  });

  test('refuses s3 without a bucket, and a type it does not know, naming the value', () => {
    expect(
      helm(['template', 'demo', chartDir, '--set', 'storage.type=s3']).stderr,
    ).toContain(
      'storage.type s3 needs storage.s3.bucket (or storage.s3.bucketConfigMap)',
    );
    expect(
      helm(['template', 'demo', chartDir, '--set', 'storage.type=nfs']).stderr,
    ).toMatch(/storage\.type|type/);
    expect(
      helm([
        'template',
        'demo',
        chartDir,
        '--set',
        'storage.type=s3',
        '--set',
        'storage.s3.bucket=Not_A_Bucket',
      ]).stderr,
    ).toContain('bucket');
  });
});
