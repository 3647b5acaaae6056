import {
  Controller,
  Get,
  Header,
  NotFoundException,
  Param,
  Res,
} from '@nestjs/common';
import { FastifyReply } from 'fastify';
import { buildOpenApiDocument } from '@pipeline/contracts';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * Swagger UI's own files, served from the package, so the docs page works
 * without internet access.
 */
const UI_FILES: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
};

/**
 * Inline scripts are forbidden by the Content-Security-Policy, so the page
 * starts Swagger UI from a file.
 */
const INIT_SCRIPT =
  "SwaggerUIBundle({ url: '/docs-json', dom_id: '#swagger-ui', persistAuthorization: false });\n";

const SWAGGER_UI_DIR = dirname(require.resolve('swagger-ui-dist/package.json'));

const PAGE = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Image pipeline API</title><link rel="icon" href="data:,"><link rel="stylesheet" href="/docs/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body>
</html>
`;

/**
 * The API's OpenAPI 3.1 description (generated from the DTOs) as JSON, and a
 * Swagger UI page over it.
 */
@Controller()
export class ApiDocsController {
  private readonly document = buildOpenApiDocument();
  private readonly assets = new Map<string, Buffer>();

  @Get('docs-json')
  json(): Record<string, unknown> {
    return this.document;
  }

  @Get('docs')
  @Header('Content-Type', 'text/html; charset=utf-8')
  page(): string {
    return PAGE;
  }

  @Get('docs/init.js')
  @Header('Content-Type', 'text/javascript; charset=utf-8')
  init(): string {
    return INIT_SCRIPT;
  }

  @Get('docs/:file')
  asset(
    @Param('file') file: string,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Buffer {
    if (!Object.hasOwn(UI_FILES, file))
      throw new NotFoundException(`no such file: ${file}`);
    reply.header('Content-Type', UI_FILES[file]);
    // Read once: the bundle is over a megabyte, too much to read synchronously
    // on every request.
    let content = this.assets.get(file);
    if (!content)
      this.assets.set(
        file,
        (content = readFileSync(join(SWAGGER_UI_DIR, file))),
      );
    return content;
  }
}
