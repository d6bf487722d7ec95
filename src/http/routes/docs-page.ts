// The /docs page: plain HTML with an inline script that renders /openapi.json; no CDN, works offline.
export const DOCS_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>nemo-relay API</title>
<style>
  body { font: 15px/1.5 system-ui, sans-serif; margin: 0; color: #1d1d1f; background: #fafafa; }
  header { background: #1d1d1f; color: #fff; padding: 1rem 2rem; }
  header a { color: #9cf; }
  main { max-width: 60rem; margin: 0 auto; padding: 1rem 2rem 4rem; }
  details { background: #fff; border: 1px solid #ddd; border-radius: 6px; margin: .5rem 0; }
  summary { cursor: pointer; padding: .6rem .8rem; }
  .body { padding: 0 1rem 1rem; }
  .method { display: inline-block; min-width: 4.5rem; font-weight: 700; font-family: ui-monospace, monospace; }
  .get { color: #0a7; } .post { color: #06c; } .delete { color: #c30; }
  code, pre { font-family: ui-monospace, monospace; font-size: 13px; }
  pre { background: #f3f3f3; padding: .6rem; border-radius: 4px; overflow: auto; max-height: 28rem; }
  table { border-collapse: collapse; } td, th { text-align: left; padding: .2rem .8rem .2rem 0; vertical-align: top; }
  h3 { margin: 1rem 0 .3rem; font-size: 1rem; }
</style>
</head>
<body>
<header><strong id="title">nemo-relay API</strong> <span id="version"></span> · <a href="/openapi.json">openapi.json</a></header>
<main><p id="description"></p><div id="ops">Loading /openapi.json…</div><h2>Schemas</h2><div id="schemas"></div></main>
<script>
(async () => {
  const el = (tag, attrs = {}, ...children) => {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    for (const c of children) node.append(c);
    return node;
  };
  const pre = (value) => el('pre', {}, JSON.stringify(value, null, 2));
  const doc = await (await fetch('/openapi.json')).json();
  document.getElementById('title').textContent = doc.info.title;
  document.getElementById('version').textContent = 'v' + doc.info.version;
  document.getElementById('description').textContent = doc.info.description || '';
  const ops = document.getElementById('ops');
  ops.textContent = '';
  for (const tag of doc.tags || [{ name: 'default' }]) {
    ops.append(el('h2', {}, tag.name));
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        if ((op.tags || ['default'])[0] !== tag.name) continue;
        const body = el('div', { class: 'body' });
        if (op.description) body.append(el('p', {}, op.description));
        if (op.parameters && op.parameters.length) {
          const table = el('table', {}, el('tr', {}, el('th', {}, 'parameter'), el('th', {}, 'in'), el('th', {}, 'schema')));
          for (const p of op.parameters) table.append(el('tr', {}, el('td', {}, el('code', {}, p.name + (p.required ? ' *' : ''))), el('td', {}, p.in), el('td', {}, el('code', {}, JSON.stringify(p.schema)))));
          body.append(el('h3', {}, 'Parameters'), table);
        }
        if (op.requestBody) {
          body.append(el('h3', {}, 'Request body'));
          for (const [type, media] of Object.entries(op.requestBody.content)) body.append(el('p', {}, el('code', {}, type)), pre(media.schema));
        }
        body.append(el('h3', {}, 'Responses'));
        for (const [status, res] of Object.entries(op.responses)) {
          const schema = res.content && Object.values(res.content)[0].schema;
          body.append(el('p', {}, el('strong', {}, status), ' ' + res.description), ...(schema ? [pre(schema)] : []));
        }
        const summary = el('summary', {}, el('span', { class: 'method ' + method }, method.toUpperCase()), el('code', {}, path), ' — ' + (op.summary || ''));
        ops.append(el('details', { id: op.operationId || path }, summary, body));
      }
    }
  }
  const schemas = document.getElementById('schemas');
  for (const [name, schema] of Object.entries((doc.components || {}).schemas || {})) {
    schemas.append(el('details', { id: 'schema-' + name }, el('summary', {}, el('code', {}, name)), el('div', { class: 'body' }, pre(schema))));
  }
})().catch((err) => { document.getElementById('ops').textContent = 'Could not load /openapi.json: ' + err; });
</script>
</body>
</html>
`;
