import { AmqpContext } from '@pipeline/messaging';

/**
 * Whether an earlier delivery of the message may have stored the job's
 * outputs already (and then died before acking).
 */
export function mayHaveStoredOutputs(
  context: Pick<AmqpContext, 'deliveryNumber' | 'message'>,
): boolean {
  return context.message.fields.redelivered || context.deliveryNumber > 1;
}
