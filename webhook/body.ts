// Reads a JSON request body with a hard size limit. Written here rather than taken from
// body-parser because body-parser reads an oversized body to its end before answering, which
// lets one client stream data for the whole request timeout; this stops at the limit.
import type { RequestHandler } from "express";
import { badRequest, failureStatus, type Status } from "./admissionReview.js";

/** An error that already says how to answer it. */
export class HttpStatusError extends Error {
  constructor(readonly status: Status) {
    super(status.message);
  }
}

const tooLarge = (limit: number) =>
  new HttpStatusError(
    failureStatus(
      413,
      "RequestEntityTooLarge",
      `request body is larger than the ${limit}-byte limit (--max-body-bytes)`,
    ),
  );

/**
 * Sets req.body to the decoded JSON (undefined for an empty body) or passes an HttpStatusError:
 * 415 for another media type or a compressed body, 413 past `limit` bytes, 400 for bad JSON.
 */
export function jsonBody(limit: number): RequestHandler {
  return (req, _res, next) => {
    // type-is answers null when there is no body; the caller reports an empty body itself.
    if (req.is("application/json") === false) {
      next(
        new HttpStatusError(
          failureStatus(
            415,
            "UnsupportedMediaType",
            `Content-Type must be application/json, got ${req.headers["content-type"]}`,
          ),
        ),
      );
      return;
    }
    const encoding = req.headers["content-encoding"];
    if (encoding !== undefined && encoding !== "identity") {
      next(
        new HttpStatusError(
          failureStatus(
            415,
            "UnsupportedMediaType",
            `Content-Encoding ${encoding} is not supported; send the body uncompressed`,
          ),
        ),
      );
      return;
    }
    if (Number(req.headers["content-length"]) > limit) {
      next(tooLarge(limit));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (err?: HttpStatusError) => {
      req.off("data", onData).off("end", onEnd).off("error", onError);
      next(err);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) {
        chunks.push(chunk);
        return;
      }
      // Stop reading; the 413 answer closes the connection rather than drain the rest.
      req.pause();
      finish(tooLarge(limit));
    };
    const onEnd = () => {
      if (size === 0) return finish();
      try {
        const body: unknown = JSON.parse(Buffer.concat(chunks, size).toString("utf8"));
        req.body = body;
        finish();
      } catch (err) {
        finish(new HttpStatusError(badRequest(`request body is not valid JSON: ${(err as Error).message}`)));
      }
    };
    const onError = (err: Error) =>
      finish(new HttpStatusError(badRequest(`reading the request body failed: ${err.message}`)));
    req.on("data", onData).on("end", onEnd).on("error", onError);
  };
}
