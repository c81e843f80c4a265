// Cairn's GraphiQL: queries and mutations over POST /graphql, subscriptions
// over its WebSocket. With auth on, put the token in the Headers tab:
// {"Authorization": "Bearer <token>"}.
(function () {
  "use strict";
  var url = new URL("/graphql", window.location.origin);
  var subscriptions = new URL(url);
  subscriptions.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  var fetcher = GraphiQL.createFetcher({
    url: url.toString(),
    subscriptionUrl: subscriptions.toString(),
  });
  ReactDOM.createRoot(document.getElementById("graphiql")).render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultEditorToolsVisibility: true,
    })
  );
})();
