import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';

// No Docker engine runs here, so the stack is checked for consistency rather than started.
const ROOT = path.resolve(__dirname, '..');

interface Service {
  image?: string;
  build?: string | { context: string };
  command?: string[];
  depends_on?: Record<string, { condition: string }>;
  environment?: Record<string, string | number>;
  volumes?: string[];
  healthcheck?: { test: string[] };
  restart?: string;
  ports?: string[];
  deploy?: { replicas?: number };
}

const compose = parse(readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8')) as {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
};
const services = compose.services;

const hostOf = (value: string | number | undefined) => {
  const s = String(value ?? '');
  const m = /^(?:[a-z]+:\/\/(?:[^@/]+@)?)?([A-Za-z0-9_.-]+):(\d+)/.exec(s);
  return m ? { host: m[1], port: Number(m[2]) } : null;
};

describe('docker-compose.yml', () => {
  it('has the production-shaped services', () => {
    expect(Object.keys(services).sort()).toEqual(['api', 'crm-db', 'migrate', 'temporal', 'temporal-db', 'temporal-ui', 'worker']);
    expect(services.worker.deploy?.replicas).toBe(2);
    expect(services.temporal.image).toMatch(/^temporalio\/(auto-setup|server):/);
    expect(services['temporal-ui'].image).toMatch(/^temporalio\/ui:/);
    expect(services['crm-db'].image).toMatch(/^postgres:/);
    expect(services['temporal-db'].image).toMatch(/^postgres:/);
  });

  it('only depends on services that exist, with conditions those services can meet', () => {
    for (const [name, svc] of Object.entries(services)) {
      for (const [dep, { condition }] of Object.entries(svc.depends_on ?? {})) {
        expect({ name, dep, exists: dep in services }).toEqual({ name, dep, exists: true });
        if (condition === 'service_healthy') expect({ dep, healthcheck: Boolean(services[dep].healthcheck) }).toEqual({ dep, healthcheck: true });
        if (condition === 'service_completed_successfully') expect(services[dep].restart).toBe('no');
      }
    }
  });

  it('points every address at a service of the stack on the port it serves', () => {
    const temporalAt = hostOf(services.worker.environment?.TEMPORAL_ADDRESS);
    expect(temporalAt).toEqual({ host: 'temporal', port: 7233 });
    expect(hostOf(services['temporal-ui'].environment?.TEMPORAL_ADDRESS)).toEqual(temporalAt);
    expect(services.temporal.environment?.POSTGRES_SEEDS).toBe('temporal-db');
    expect(hostOf(services.api.environment?.TEMPORAL_ADDRESS)).toEqual(temporalAt);
    for (const name of ['worker', 'migrate', 'api']) {
      const db = new URL(String(services[name].environment?.DATABASE_URL).replace(/\$\{[^}]+\}/g, 'x'));
      expect({ name, host: db.hostname, port: db.port }).toEqual({ name, host: 'crm-db', port: '5432' });
      expect(db.pathname).toBe(`/${services['crm-db'].environment?.POSTGRES_DB}`);
    }
  });

  it('gives every long-running service a health check, and no two services the same host port', () => {
    for (const [name, svc] of Object.entries(services)) {
      if (svc.restart === 'no') continue;
      expect({ name, healthcheck: Array.isArray(svc.healthcheck?.test) }).toEqual({ name, healthcheck: true });
    }
    const hostPorts = Object.values(services).flatMap((svc) => (svc.ports ?? []).map((p) => p.split(':')[0]));
    expect(new Set(hostPorts).size).toBe(hostPorts.length);
  });

  it('serves the admin API on the port its health check, its published port and the UI codec endpoint name', () => {
    const port = String(services.api.environment?.API_PORT);
    expect(services.api.ports).toContain(`${port}:${port}`);
    expect(services.api.healthcheck?.test.join(' ')).toContain(`127.0.0.1:${port}/healthz`);
    expect(services['temporal-ui'].environment?.TEMPORAL_CODEC_ENDPOINT).toBe(`http://localhost:${port}/codec`);
    expect(services.worker.healthcheck?.test.join(' ')).toContain(`127.0.0.1:${services.worker.environment?.HEALTH_PORT}/healthz`);
  });

  it('declares the named volumes it mounts', () => {
    const named = Object.values(services)
      .flatMap((s) => s.volumes ?? [])
      .map((v) => v.split(':')[0])
      .filter((v) => !v.startsWith('.') && !v.startsWith('/'));
    for (const v of named) expect(Object.keys(compose.volumes ?? {})).toContain(v);
  });

  it('builds the worker from a Dockerfile whose command the build produces', () => {
    expect(services.worker.build).toBe('.');
    const dockerfile = readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
    // With the young generation the worker scripts in package.json give it.
    expect(dockerfile).toMatch(/CMD \["node", "--max-semi-space-size=16", "dist\/src\/worker\/main\.js"\]/);
    expect(JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).scripts.worker).toBe('tsx --max-semi-space-size=16 src/worker/main.ts');
    expect(existsSync(path.join(ROOT, 'src', 'worker', 'main.ts'))).toBe(true);
    expect(services.migrate.command).toEqual(['node', 'dist/src/cli/main.js', 'migrate']);
    expect(existsSync(path.join(ROOT, 'src', 'cli', 'main.ts'))).toBe(true);
    expect(services.api.build).toBe('.');
    expect(services.api.command).toEqual(['node', 'dist/src/api/main.js']);
    expect(existsSync(path.join(ROOT, 'src', 'api', 'main.ts'))).toBe(true);
    // The build reads its own tsconfig, and the image keeps what the built API reads at run time.
    const [build, image] = dockerfile.split(/^FROM .*$/m).slice(1);
    expect(build).toMatch(/^COPY .*\btsconfig\.build\.json\b/m);
    expect(JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).scripts.build).toContain('tsconfig.build.json');
    expect(image).toMatch(/^COPY --from=build \/app\/src\/api\/dashboard src\/api\/dashboard$/m);
    expect(readFileSync(path.join(ROOT, 'src', 'api', 'routes', 'dashboard.ts'), 'utf8')).toContain("'src', 'api', 'dashboard'");
    // The worker refuses to start without encryption keys in production.
    expect(String(services.worker.environment?.SECRET_KEYS)).toMatch(/\$\{SECRET_KEYS:\?/);
  });
});
