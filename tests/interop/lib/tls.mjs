// Self-signed certificates for TLS tests, made with the openssl command line.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

// A certificate for `names` (a subjectAltName list such as 'DNS:localhost,IP:127.0.0.1') in
// `dir`: { key, cert } as Buffers and `file`, the certificate's path.
export function selfSignedCertificate(dir, label, names) {
  const key = path.join(dir, `${label}.key`);
  const file = path.join(dir, `${label}.pem`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=switchboard-test',
    '-addext', `subjectAltName=${names}`, '-keyout', key, '-out', file], { stdio: 'ignore' });
  return { key: fs.readFileSync(key), cert: fs.readFileSync(file), file };
}
