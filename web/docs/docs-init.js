// Renders /openapi.json with Swagger UI (swagger-ui-dist, embedded in the
// binary at build time). Served from the gateway itself: no CDN, works
// without internet access. A separate file rather than an inline script so
// that the page's Content-Security-Policy needs no 'unsafe-inline' script.
window.addEventListener('load', function () {
  window.ui = SwaggerUIBundle({
    url: '/openapi.json',
    dom_id: '#swagger-ui',
    deepLinking: true,
    validatorUrl: null,
    tryItOutEnabled: false,
    presets: [SwaggerUIBundle.presets.apis],
    layout: 'BaseLayout',
  });
});
