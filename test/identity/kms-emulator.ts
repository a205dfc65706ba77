/**
 * A tiny KMS (Encrypt and Decrypt of the awsJson1_1 protocol) on loopback, verifying SigV4 like
 * AWS does, so the KMS key wrapper is tested against the real SDK client without the network.
 * Its ciphertexts are AES-256-GCM under a key of its own, bound to the key id and the encryption
 * context, as KMS binds them.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifySigV4 } from '../emulators/sigv4.js';

export const KMS_CREDENTIALS = { accessKeyId: 'AKIDKMSTEST', secretAccessKey: 'kms-test-secret' };

export interface KmsEmulator {
  endpoint: string;
  calls: { target: string; context: unknown }[];
  close(): Promise<void>;
}

const aad = (keyId: string, context: unknown) =>
  Buffer.from(JSON.stringify([keyId, context ?? {}]));

export async function startKmsEmulator(keyIds: string[]): Promise<KmsEmulator> {
  const master = randomBytes(32);
  const calls: KmsEmulator['calls'] = [];
  const send = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' });
    res.end(JSON.stringify(body));
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      void (async () => {
        const body = Buffer.concat(chunks);
        const [path, query = ''] = (req.url ?? '/').split('?');
        const verified = await verifySigV4(
          { method: req.method ?? 'POST', path: path!, query, headers: req.headers, body },
          { service: 'kms', credentials: KMS_CREDENTIALS },
        );
        if (!verified.ok)
          return send(res, 403, { __type: verified.code, message: verified.reason });
        const target = String(req.headers['x-amz-target'] ?? '');
        const input = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
        calls.push({ target, context: input.EncryptionContext });
        const keyId = String(input.KeyId ?? '');
        if (!keyIds.includes(keyId)) {
          return send(res, 400, { __type: 'NotFoundException', message: `Key ${keyId} not found` });
        }
        if (target === 'TrentService.Encrypt') {
          const iv = randomBytes(12);
          const cipher = createCipheriv('aes-256-gcm', master, iv);
          cipher.setAAD(aad(keyId, input.EncryptionContext));
          const plain = Buffer.from(String(input.Plaintext), 'base64');
          const ct = Buffer.concat([cipher.update(plain), cipher.final()]);
          const blob = Buffer.concat([iv, cipher.getAuthTag(), ct]).toString('base64');
          return send(res, 200, { CiphertextBlob: blob, KeyId: keyId });
        }
        if (target === 'TrentService.Decrypt') {
          try {
            const raw = Buffer.from(String(input.CiphertextBlob), 'base64');
            const decipher = createDecipheriv('aes-256-gcm', master, raw.subarray(0, 12));
            decipher.setAAD(aad(keyId, input.EncryptionContext));
            decipher.setAuthTag(raw.subarray(12, 28));
            const plain = Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]);
            return send(res, 200, { Plaintext: plain.toString('base64'), KeyId: keyId });
          } catch {
            return send(res, 400, { __type: 'InvalidCiphertextException', message: 'bad' });
          }
        }
        return send(res, 400, { __type: 'UnknownOperationException', message: target });
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    calls,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
