import type { DataConverter } from '@temporalio/common';
import { EncryptionCodec } from './payloadCodec';

/**
 * Path of the module exporting the failure converter (`encodeCommonAttributes: true`). The
 * SDK takes failure converters by path, not as objects, because the workflow sandbox loads
 * its own copy: pass this to `bundleWorkflowCode({ failureConverterPath })` when bundling
 * workflows ahead of time (Worker.create does it itself when it bundles from workflowsPath).
 */
export const failureConverterPath: string = require.resolve('./failureConverter');

/**
 * The data converter of every Temporal client and worker of the product: payloads encrypted
 * with the SECRET_KEYS keys, failure messages and stack traces encoded (and so encrypted) too.
 */
export function createDataConverter(keySpec: string): DataConverter {
  return {
    payloadCodecs: [new EncryptionCodec(keySpec)],
    failureConverterPath,
  };
}
