import { DefaultFailureConverter } from '@temporalio/common';

/**
 * Moves failure messages and stack traces into an encoded-attributes payload, which the
 * payload codecs then encrypt; history keeps only "Encoded failure".
 *
 * Loaded by path (`DataConverter.failureConverterPath`), also into the workflow sandbox's
 * bundle: keep this module free of Node APIs.
 */
export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
