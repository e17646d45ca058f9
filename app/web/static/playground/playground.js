// memql's GraphiQL page: starts GraphiQL (vendored UMD builds) with the tabs and headers that
// the server put in the page's #memql-playground JSON, and sends queries to this page's own path.
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("memql-playground").textContent);
  var headers = JSON.stringify(config.headers, null, 2);

  var graphiql = React.createElement(GraphiQL, {
    fetcher: GraphiQL.createFetcher({ url: window.location.pathname }),
    plugins: [GraphiQLPluginExplorer.explorerPlugin()],
    defaultTabs: config.tabs.map(function (query) {
      return { query: query, headers: headers };
    }),
    defaultHeaders: headers,
    defaultEditorToolsVisibility: "headers",
    isHeadersEditorEnabled: true,
    // A bearer token is a secret: keep it out of the browser's storage.
    shouldPersistHeaders: false,
    inputValueDeprecation: true,
  });
  ReactDOM.createRoot(document.getElementById("graphiql")).render(graphiql);
})();
