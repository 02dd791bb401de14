/**
 * GET /openapi.json and GET /docs: the OpenAPI document, and Swagger UI over it, served from
 * the installed swagger-ui-dist package, never a CDN. The page has no inline script or
 * style, so it gets a strict Content-Security-Policy: scripts, styles and requests go to
 * this origin only.
 */
import express, { type RequestHandler, type Router } from 'express';
import getAbsoluteFSPath from 'swagger-ui-dist/absolute-path.js';
import { openApiDocument, openApiPath } from '../openapi';

export const docsPath = '/docs';

/** The files of the package the page uses; nothing else of it is served. */
const swaggerUiFiles = new Set([
  '/swagger-ui.css',
  '/index.css',
  '/swagger-ui-bundle.js',
  '/favicon-32x32.png',
  '/favicon-16x16.png',
]);
/** Starts Swagger UI on the document: a file of its own, as the policy forbids inline scripts. */
const initializerFile = '/ledger-docs.js';

const contentSecurityPolicy = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  // Swagger UI's stylesheet draws its icons as data: SVG images.
  "img-src 'self' data:",
  // The document, and "Try it out" against this server.
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const pageSecurity: RequestHandler = (_req, res, next) => {
  res.set({
    'Content-Security-Policy': contentSecurityPolicy,
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
  });
  next();
};

const page = `<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <title>Ledger API</title>
    <link rel="stylesheet" href="${docsPath}/swagger-ui.css">
    <link rel="stylesheet" href="${docsPath}/index.css">
    <link rel="icon" type="image/png" sizes="32x32" href="${docsPath}/favicon-32x32.png">
    <link rel="icon" type="image/png" sizes="16x16" href="${docsPath}/favicon-16x16.png">
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="${docsPath}/swagger-ui-bundle.js"></script>
    <script src="${docsPath}${initializerFile}"></script>
  </body>
</html>
`;

// BaseLayout: no top bar to load other documents. validatorUrl null: no badge fetched from
// validator.swagger.io, which would send the document's URL to a third party.
const initializer = `window.addEventListener('load', function () {
  window.ui = SwaggerUIBundle({
    url: ${JSON.stringify(openApiPath)},
    dom_id: '#swagger-ui',
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: 'BaseLayout',
  });
});
`;

/** The page's assets under /docs/: the initializer, and the allowed files of the package. */
function swaggerUiAssets(): RequestHandler {
  const files = express.static(getAbsoluteFSPath(), { index: false, redirect: false });
  return (req, res, next) => {
    if (req.path === initializerFile && (req.method === 'GET' || req.method === 'HEAD')) {
      res.type('text/javascript').send(initializer);
    } else if (swaggerUiFiles.has(req.path)) {
      files(req, res, next);
    } else {
      next();
    }
  };
}

export function docsRoutes(router: Router): void {
  const documentJson = JSON.stringify(openApiDocument());

  router.get(openApiPath, (_req, res) => {
    res.type('application/json').send(documentJson);
  });

  router.get(docsPath, pageSecurity, (_req, res) => {
    res.type('html').send(page);
  });

  // Middleware, not routes: static files are not API operations, so the document omits them.
  router.use(docsPath, pageSecurity, swaggerUiAssets());
}
