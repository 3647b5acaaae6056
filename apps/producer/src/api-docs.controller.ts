import { Controller, Get } from '@nestjs/common';
import { buildOpenApiDocument } from '@pipeline/contracts';

/** The API's OpenAPI 3.1 description, generated from the DTOs. */
@Controller()
export class ApiDocsController {
  private readonly document = buildOpenApiDocument();

  @Get('openapi.json')
  openApi(): Record<string, unknown> {
    return this.document;
  }
}
