/**
 * The pipeline's one-way data flow, enforced (run by test/architecture.test.ts):
 * smtp -> store + queue -> parse -> deliver, with routes and api beside, config and domain under.
 * services (what the API, the CLI and the console all do) sit on store, queue and routes, below
 * api and app. A stage never imports a later one; domain and config import no stage.
 */
const stage = (name) => `^src/${name}/`;
module.exports = {
  forbidden: [
    { name: 'domain-is-pure', severity: 'error', from: { path: stage('domain') }, to: { path: '^src/(?!domain/|config/units)' } },
    { name: 'config-is-base', severity: 'error', from: { path: stage('config') }, to: { path: '^src/(?!config/)' } },
    { name: 'smtp-is-first', severity: 'error', comment: 'intake gets storage and route lookup injected (domain/message.ts types)',
      from: { path: stage('smtp') }, to: { path: '^src/(store|queue|parse|deliver|api|routes|services|app)/' } },
    { name: 'store-before-parse', severity: 'error', from: { path: '^src/(store|queue)/' }, to: { path: '^src/(smtp|parse|deliver|api|services|app)/' } },
    { name: 'parse-before-deliver', severity: 'error', from: { path: stage('parse') }, to: { path: '^src/(smtp|deliver|api|services|app)/' } },
    { name: 'deliver-is-last', severity: 'error', from: { path: stage('deliver') }, to: { path: '^src/(smtp|api|services|app)/' } },
    { name: 'routes-beside', severity: 'error', from: { path: stage('routes') }, to: { path: '^src/(smtp|parse|deliver|api|services|app)/' } },
    { name: 'services-below-surfaces', severity: 'error', comment: 'the API, the CLI (app/commands) and the console call services; services call no surface',
      from: { path: stage('services') }, to: { path: '^src/(smtp|parse|deliver|api|app)/' } },
    { name: 'api-beside', severity: 'error', from: { path: stage('api') }, to: { path: '^src/(smtp|parse|deliver|app)/' } },
    { name: 'no-circular', severity: 'error', from: {}, to: { circular: true } },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '\\.test\\.ts$' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
  },
};
