// Starts Swagger UI on the page DocsHandler serves. It lives in its own file,
// not inline, so the page can run under a Content-Security-Policy with
// script-src 'self'. The document's URL comes from the data-spec-url
// attribute of #swagger-ui.
(function () {
  "use strict";
  var node = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: node.getAttribute("data-spec-url"),
    domNode: node,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    deepLinking: true,
    // No badge from the public validator: the page makes no request off
    // this origin.
    validatorUrl: null,
    // Never read ?url= or ?configUrl= from the address bar.
    queryConfigEnabled: false,
    displayRequestDuration: true,
    defaultModelsExpandDepth: 0,
  });
})();
