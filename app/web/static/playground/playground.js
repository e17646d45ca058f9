// memql's GraphiQL page: starts GraphiQL (vendored UMD builds) with the tabs and headers that
// the server put in the page's #memql-playground JSON, and sends queries and mutations to this
// page's own path over HTTP, subscriptions over a WebSocket to it (graphql-ws's client, the
// graphql-transport-ws protocol memql speaks), with the Authorization header in its
// connection_init payload.
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("memql-playground").textContent);
  var headers = JSON.stringify(config.headers, null, 2);
  var overHttp = GraphiQL.createFetcher({ url: window.location.pathname });
  var socketUrl =
    (window.location.protocol === "https:" ? "wss://" : "ws://") +
    window.location.host +
    window.location.pathname;
  var socket = null;
  var socketAuthorization = null;

  // One connection, opened again when the Authorization header changes.
  function connection(requestHeaders) {
    var authorization = (requestHeaders || {}).Authorization || (requestHeaders || {}).authorization;
    authorization = typeof authorization === "string" ? authorization : null;
    if (socket === null || authorization !== socketAuthorization) {
      if (socket !== null) socket.dispose();
      socketAuthorization = authorization;
      socket = graphqlWs.createClient({
        url: socketUrl,
        connectionParams: authorization ? { Authorization: authorization } : {},
      });
    }
    return socket;
  }

  // The operations of a document, as (type, name) from its text: GraphiQL's parsed document and
  // operationName can still be the previous tab's just after a tab switch.
  function operationsOf(query) {
    var found = [];
    var pattern = /(^|[}\s])(query|mutation|subscription)\b\s*([_A-Za-z][_0-9A-Za-z]*)?/g;
    var text = query.replace(/#[^\n]*/g, "");
    var match;
    while ((match = pattern.exec(text)) !== null) {
      found.push({ type: match[2], name: match[3] || null });
    }
    if (found.length === 0 && /^\s*\{/.test(text)) found.push({ type: "query", name: null });
    return found;
  }

  function withOwnOperationName(params) {
    var operations = operationsOf(params.query || "");
    var named = operations.some(function (operation) {
      return operation.name === params.operationName;
    });
    if (!params.operationName || named || operations.length !== 1) return params;
    return Object.assign({}, params, { operationName: undefined });
  }

  function isSubscription(params) {
    var chosen = operationsOf(params.query || "").filter(function (operation) {
      return !params.operationName || operation.name === params.operationName;
    })[0];
    return Boolean(chosen) && chosen.type === "subscription";
  }

  function fetcher(requested, options) {
    var params = withOwnOperationName(requested);
    if (!isSubscription(params)) return overHttp(params, options);
    var client = connection(options && options.headers);
    // An Observable, which GraphiQL shows result by result.
    return {
      subscribe: function (observer) {
        var sink = {
          next: function (value) { observer.next(value); },
          error: function (error) {
            observer.error(error instanceof Error || Array.isArray(error) ? error : new Error(
              "the WebSocket closed" + (error && error.code ? " with " + error.code + " " + (error.reason || "") : "")
            ));
          },
          complete: function () { observer.complete(); },
        };
        var dispose = client.subscribe(params, sink);
        return { unsubscribe: dispose };
      },
    };
  }

  var graphiql = React.createElement(GraphiQL, {
    fetcher: fetcher,
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
