/** An error the CLI reports as one line on stderr, with the exit code it carries. */
export class CliError extends Error {
  override name = 'CliError';
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/** Bad arguments: exit 2, as commander's own usage errors. */
export class UsageError extends CliError {
  override name = 'UsageError';
  constructor(message: string) {
    super(message, 2);
  }
}

export class UnreachableError extends CliError {
  override name = 'UnreachableError';
  constructor(
    readonly url: string,
    readonly reason: string,
    recordedIn?: string,
  ) {
    super(
      recordedIn
        ? `cannot reach Hearth at ${url}, the server recorded in ${recordedIn}: ${reason}; is it still running?`
        : `cannot reach Hearth at ${url}: ${reason}; is "hearth serve" running?`,
    );
  }
}

/** Nothing gave or recorded a server's address, and none answers at the default one. */
export class NoServerError extends CliError {
  override name = 'NoServerError';
  constructor(url: string, looked: string) {
    super(
      `no Hearth server is running: ${looked}, and none answers at ${url}. ` +
        'Start one with "hearth serve", or give its address with --url or HEARTH_URL',
    );
  }
}

export class UnauthorizedError extends CliError {
  override name = 'UnauthorizedError';
  constructor(hadToken: boolean) {
    super(
      hadToken
        ? 'the server refused the token; pass --token or set HEARTH_TOKEN'
        : 'the server wants a token and none was found; pass --token or set HEARTH_TOKEN (hearth serve keeps it in its data directory, in the file token)',
    );
  }
}

/** The API answered with `{ error: { code, message } }`. */
export class ApiError extends CliError {
  override name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    apiMessage: string,
  ) {
    super(`${apiMessage} (${code}, HTTP ${status})`);
  }
}
