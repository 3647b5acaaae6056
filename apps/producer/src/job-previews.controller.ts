import { Get, Param, Res } from '@nestjs/common';
import { Caller, CurrentCaller } from '@pipeline/auth';
import { Preview } from '@pipeline/imaging';
import { FastifyReply } from 'fastify';
import { JobPreviewService } from './job-preview.service';
import { ApiController, IdParam } from './api-routes';

/**
 * Thumbnails (at most 256 px a side, WebP) of a job's outputs and stored
 * input, for a key with jobs:read that may see the job.
 */
@ApiController('v1/jobs', 'jobs:read')
export class JobPreviewsController {
  constructor(private readonly previews: JobPreviewService) {}

  /** A thumbnail of one output, by name (`default` for a single output). */
  @Get(':id/result/:name/preview')
  async output(
    @CurrentCaller() caller: Caller,
    @IdParam() id: string,
    @Param('name') name: string,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    send(reply, await this.previews.output(caller, id, name));
  }

  /** A thumbnail of the job's input: an upload, or its images-folder file. */
  @Get(':id/input/preview')
  async input(
    @CurrentCaller() caller: Caller,
    @IdParam() id: string,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    send(reply, await this.previews.input(caller, id));
  }
}

/**
 * A succeeded job's outputs and its input never change, so the browser may
 * keep the thumbnail for a while (for this key only).
 */
function send(reply: FastifyReply, preview: Preview): void {
  void reply
    .status(200)
    .type(preview.contentType)
    .header('Cache-Control', 'private, max-age=3600')
    .header('Content-Length', preview.data.length)
    .send(preview.data);
}
