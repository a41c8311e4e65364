// How an S3 location of a spec (spec.backup.s3, spec.restore.s3, an RqBackup's destination)
// becomes a connection: the one place the defaults are filled in, so that every reader of the
// same spec reaches the same bucket in the same region.
import type { S3CredentialsSecretRef } from "../../shared/types.generated.js";

/** AWS's default region, as rqlite's own S3 client assumes when none is given. */
export const DEFAULT_S3_REGION = "us-east-1";

/** The S3 connection fields every location shares. */
export interface S3Connection {
  bucket: string;
  endpoint?: string;
  region: string;
  forcePathStyle: boolean;
  credentialsSecret?: Required<S3CredentialsSecretRef>;
}

/** The fields of an S3 location as a spec holds them, defaults not yet applied. */
export interface S3Spec {
  bucket: string;
  endpoint?: string | undefined;
  region?: string | undefined;
  forcePathStyle?: boolean | undefined;
  credentialsSecret?: S3CredentialsSecretRef | undefined;
}

export function s3Connection(s3: S3Spec): S3Connection {
  return {
    bucket: s3.bucket,
    ...(s3.endpoint ? { endpoint: s3.endpoint } : {}),
    region: s3.region ?? DEFAULT_S3_REGION,
    forcePathStyle: s3.forcePathStyle ?? false,
    ...(s3.credentialsSecret ? { credentialsSecret: credentialsOf(s3.credentialsSecret) } : {}),
  };
}

export function credentialsOf(ref: S3CredentialsSecretRef): Required<S3CredentialsSecretRef> {
  return {
    name: ref.name,
    accessKeyIdKey: ref.accessKeyIdKey ?? "AWS_ACCESS_KEY_ID",
    secretAccessKeyKey: ref.secretAccessKeyKey ?? "AWS_SECRET_ACCESS_KEY",
  };
}
