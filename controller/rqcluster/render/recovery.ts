// The one-shot Pod of a quorum-loss recovery: it mounts the survivor's volume while no rqlited
// runs on it and writes rqlite's peers.json into the Raft folder of its data directory. rqlited
// reads that file at its next start, makes its configuration the file's (hashicorp/raft's
// RecoverCluster: the whole local log is kept and committed) and deletes it.
import type { V1Pod } from "@kubernetes/client-node";
import { DATA_VOLUME, LABEL_MANAGED_BY, MANAGER_NAME, RAFT_PORT } from "../../../shared/names.js";
import type { ClusterView } from "./cluster.js";
import type { Addressing } from "../../access/clusterView.js";
import { DATA_DIR, RESTRICTED_CONTAINER, RQLITE_SECURITY_CONTEXT } from "./pod.js";

/** On the Pod (the cluster's name), and never the cluster label: it is no node of the cluster. */
export const LABEL_RECOVERY_OF = "rqlite.io/recovery-of";
export const RECOVERY_CONTAINER = "peers";
/** rqlite reads it from <data dir>/raft/peers.json (store.go's peersPath). */
export const PEERS_FILE = `${DATA_DIR}/data/raft/peers.json`;

export const recoveryPodName = (cluster: string): string => `${cluster}-recovery`;

/** rqlite's peers.json: the voters of the recovered configuration, by id and Raft address. */
export function peersJson(c: ClusterView, addressing: Addressing, voters: readonly string[]): string {
  return JSON.stringify(
    voters.map((id) => ({
      id,
      address: `${addressing.kind === "dns" ? `${id}.${c.headlessService}.${c.namespace}.svc.${addressing.clusterDomain}` : addressing.addressOf(c.namespace, id)}:${RAFT_PORT}`,
      non_voter: false,
    })),
  );
}

/**
 * Runs the cluster's own rqlite image (its shell writes one file: no other image to trust or pull)
 * as the same restricted user as the nodes, with no network use and no token.
 */
export function renderRecoveryPod(c: ClusterView, addressing: Addressing, survivor: string): V1Pod {
  const peers = peersJson(c, addressing, [survivor]);
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: recoveryPodName(c.name),
      namespace: c.namespace,
      labels: { [LABEL_MANAGED_BY]: MANAGER_NAME, [LABEL_RECOVERY_OF]: c.name },
      ownerReferences: [c.ownerReference],
    },
    spec: {
      restartPolicy: "Never",
      automountServiceAccountToken: false,
      imagePullSecrets: c.spec.imagePullSecrets,
      securityContext: RQLITE_SECURITY_CONTEXT,
      containers: [
        {
          name: RECOVERY_CONTAINER,
          image: c.spec.image,
          imagePullPolicy: c.spec.imagePullPolicy,
          command: ["/bin/sh", "-c"],
          // The folder exists on any volume rqlited ever ran on; one that lacks it has no data to
          // recover, and the Pod fails saying so rather than making an empty node a survivor.
          args: [
            `test -d ${DATA_DIR}/data/raft || { echo "no Raft folder in ${DATA_DIR}/data: the volume holds no rqlite data" >&2; exit 1; }; ` +
              `printf '%s' "$PEERS" > ${PEERS_FILE} && echo "wrote ${PEERS_FILE}: $PEERS"`,
          ],
          env: [{ name: "PEERS", value: peers }],
          securityContext: { ...RESTRICTED_CONTAINER, readOnlyRootFilesystem: true },
          volumeMounts: [{ name: DATA_VOLUME, mountPath: DATA_DIR }],
          resources: { requests: { cpu: "10m", memory: "16Mi" }, limits: { memory: "32Mi" } },
        },
      ],
      volumes: [{ name: DATA_VOLUME, persistentVolumeClaim: { claimName: survivor } }],
    },
  };
}
