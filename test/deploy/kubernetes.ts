// The parts of Kubernetes objects the deployment checks read, by kind. Not the
// whole API (the schemas in .tools/kube-schemas check that): a field missing
// here is one no check looks at.

export interface ObjectMeta {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/** Any rendered object; `find` and `ofKind` give the typed one of a kind. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

export interface KeyRef {
  name: string;
  key: string;
}

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    secretKeyRef?: KeyRef;
    configMapKeyRef?: KeyRef;
    fieldRef?: { fieldPath: string };
  };
}

export interface EnvFromSource {
  secretRef?: { name: string };
  configMapRef?: { name: string };
}

export interface ContainerPort {
  name?: string;
  containerPort: number;
  protocol?: string;
  hostPort?: number;
}

export interface VolumeMount {
  name: string;
  mountPath: string;
  subPath?: string;
  readOnly?: boolean;
}

export interface Probe {
  httpGet?: { path: string; port: string | number };
  exec?: { command: string[] };
}

export interface SecurityContext {
  runAsNonRoot?: boolean;
  runAsUser?: number;
  allowPrivilegeEscalation?: boolean;
  privileged?: boolean;
  readOnlyRootFilesystem?: boolean;
  capabilities?: { add?: string[]; drop?: string[] };
  seccompProfile?: { type: string };
}

export interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  ports?: ContainerPort[];
  env?: EnvVar[];
  envFrom?: EnvFromSource[];
  volumeMounts?: VolumeMount[];
  securityContext?: SecurityContext;
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  startupProbe?: Probe;
  resources?: {
    requests?: Record<string, string>;
    limits?: Record<string, string>;
  };
  lifecycle?: { preStop?: { exec?: { command: string[] } } };
}

export interface Volume {
  name: string;
  emptyDir?: object;
  persistentVolumeClaim?: { claimName: string; readOnly?: boolean };
  hostPath?: { path: string };
  secret?: { secretName: string };
  configMap?: { name: string };
}

export interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  volumes?: Volume[];
  securityContext?: SecurityContext;
  hostNetwork?: boolean;
  hostPID?: boolean;
  hostIPC?: boolean;
  hostname?: string;
  subdomain?: string;
  nodeName?: string;
  serviceAccountName?: string;
  automountServiceAccountToken?: boolean;
  terminationGracePeriodSeconds?: number;
  restartPolicy?: string;
  imagePullSecrets?: { name: string }[];
  priorityClassName?: string;
  topologySpreadConstraints?: object[];
  affinity?: {
    nodeAffinity?: object;
    podAntiAffinity?: {
      preferredDuringSchedulingIgnoredDuringExecution?: object[];
    };
  };
}

export interface PodTemplate {
  metadata: {
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  spec: PodSpec;
}

export interface DeploymentSpec {
  replicas?: number;
  selector: LabelSelector;
  template: PodTemplate;
}

export interface StatefulSetSpec extends DeploymentSpec {
  serviceName: string;
  podManagementPolicy?: string;
  volumeClaimTemplates?: object[];
  persistentVolumeClaimRetentionPolicy?: {
    whenDeleted?: string;
    whenScaled?: string;
  };
}

export interface JobSpec {
  template: PodTemplate;
  ttlSecondsAfterFinished?: number;
}

export interface ServicePort {
  name?: string;
  port: number;
  targetPort?: string | number;
  protocol?: string;
}

export interface NetworkPolicyPeer {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
  ipBlock?: { cidr: string; except?: string[] };
}

export interface NetworkPolicyRule {
  ports?: { port: number | string; protocol?: string }[];
  from?: NetworkPolicyPeer[];
  to?: NetworkPolicyPeer[];
}

type Of<K extends string, Rest> = K8sObject & { kind: K } & Rest;

/** The kinds the chart renders, with what the checks read of each. */
export interface Kinds {
  Deployment: Of<'Deployment', { spec: DeploymentSpec }>;
  DaemonSet: Of<'DaemonSet', { spec: DeploymentSpec }>;
  ReplicaSet: Of<'ReplicaSet', { spec: DeploymentSpec }>;
  StatefulSet: Of<'StatefulSet', { spec: StatefulSetSpec }>;
  Job: Of<'Job', { spec: JobSpec }>;
  CronJob: Of<'CronJob', { spec: { jobTemplate: { spec: JobSpec } } }>;
  Pod: Of<'Pod', { spec: PodSpec }>;
  Service: Of<
    'Service',
    {
      spec: {
        selector?: Record<string, string>;
        ports: ServicePort[];
        clusterIP?: string;
        publishNotReadyAddresses?: boolean;
      };
    }
  >;
  Ingress: Of<
    'Ingress',
    {
      spec: {
        rules: {
          host?: string;
          http: { paths: { path?: string; backend: object }[] };
        }[];
      };
    }
  >;
  NetworkPolicy: Of<
    'NetworkPolicy',
    {
      spec: {
        podSelector: LabelSelector;
        ingress?: NetworkPolicyRule[];
        egress?: NetworkPolicyRule[];
      };
    }
  >;
  PersistentVolumeClaim: Of<
    'PersistentVolumeClaim',
    { spec: { accessModes: string[]; storageClassName?: string } }
  >;
  PodDisruptionBudget: Of<
    'PodDisruptionBudget',
    { spec: { selector: LabelSelector; maxUnavailable?: number | string } }
  >;
  HorizontalPodAutoscaler: Of<
    'HorizontalPodAutoscaler',
    {
      spec: {
        scaleTargetRef: { apiVersion: string; kind: string; name: string };
      };
    }
  >;
  ScaledObject: Of<
    'ScaledObject',
    {
      spec: {
        scaleTargetRef: { name: string };
        maxReplicaCount?: number;
        triggers: {
          type: string;
          metadata: Record<string, string>;
          authenticationRef?: { name: string };
        }[];
        advanced?: { horizontalPodAutoscalerConfig?: { name?: string } };
      };
    }
  >;
  TriggerAuthentication: Of<
    'TriggerAuthentication',
    { spec: { secretTargetRef: (KeyRef & { parameter: string })[] } }
  >;
  Secret: Of<'Secret', { data?: Record<string, string> }>;
  ConfigMap: Of<'ConfigMap', { data?: Record<string, string> }>;
  Role: Of<
    'Role',
    { rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[] }
  >;
  RoleBinding: Of<
    'RoleBinding',
    {
      subjects: { kind: string; name: string; namespace?: string }[];
      roleRef: { kind: string; name: string };
    }
  >;
  ServiceAccount: Of<
    'ServiceAccount',
    { automountServiceAccountToken?: boolean }
  >;
  ServiceMonitor: Of<
    'ServiceMonitor',
    {
      spec: {
        selector: LabelSelector;
        namespaceSelector?: { matchNames?: string[]; any?: boolean };
        endpoints: {
          port?: string;
          path?: string;
          interval?: string;
          scrapeTimeout?: string;
        }[];
      };
    }
  >;
  PrometheusRule: Of<
    'PrometheusRule',
    {
      spec: {
        groups: {
          name: string;
          rules: {
            alert?: string;
            record?: string;
            expr: string;
            for?: string;
            labels?: Record<string, string>;
            annotations?: Record<string, string>;
          }[];
        }[];
      };
    }
  >;
}

export type Kind = keyof Kinds;
export type Workload = Kinds[
  | 'Deployment'
  | 'DaemonSet'
  | 'ReplicaSet'
  | 'StatefulSet'
  | 'Job'
  | 'CronJob'
  | 'Pod'];

/**
 * Whether an object is of a kind (its fields are then the ones `Kinds` names).
 */
export function isKind<K extends Kind>(
  object: K8sObject,
  kind: K,
): object is Kinds[K] {
  return object.kind === kind;
}

/** The objects of one kind. */
export function ofKind<K extends Kind>(
  objects: K8sObject[],
  kind: K,
): Kinds[K][] {
  return objects.filter((object): object is Kinds[K] => isKind(object, kind));
}

function templateIfAny(object: K8sObject): PodTemplate | undefined {
  const workload = object as Workload;
  switch (workload.kind) {
    case 'Deployment':
    case 'DaemonSet':
    case 'ReplicaSet':
    case 'StatefulSet':
    case 'Job':
      return workload.spec.template;
    case 'CronJob':
      return workload.spec.jobTemplate.spec.template;
    case 'Pod':
      return { metadata: workload.metadata, spec: workload.spec };
    default:
      return undefined;
  }
}

/** Whether an object runs pods (a Deployment, a StatefulSet, a Job ...). */
export function isWorkload(object: K8sObject): object is Workload {
  return templateIfAny(object) !== undefined;
}

/**
 * The pod template of a workload; throws, naming the object, for one that runs
 * no pods.
 */
export function podTemplateOf(object: K8sObject): PodTemplate {
  const template = templateIfAny(object);
  if (!template)
    throw new Error(`${object.kind}/${object.metadata.name} runs no pods`);
  return template;
}

/**
 * The pod spec of a workload; throws, naming the object, for one that runs no
 * pods.
 */
export function podSpecOf(object: K8sObject): PodSpec {
  return podTemplateOf(object).spec;
}

/** The containers of a pod (init containers included). */
export function containersOf(pod: PodSpec): Container[] {
  return [...(pod.initContainers ?? []), ...pod.containers];
}
