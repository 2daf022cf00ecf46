/** Errors the admin operations raise; the HTTP API maps statusCode straight to the response. */
export class AdminError extends Error {
  constructor(
    message: string,
    readonly statusCode: number,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class NotFoundError extends AdminError {
  constructor(what: string, id: string) {
    super(`${what} ${id} does not exist`, 404);
  }
}

export class ConflictError extends AdminError {
  constructor(message: string, details?: Record<string, unknown>) {
    super(message, 409, details);
  }
}

export class ForbiddenError extends AdminError {
  constructor(message = 'This token may not do that') {
    super(message, 403);
  }
}

export class InvalidRequestError extends AdminError {
  constructor(message: string) {
    super(message, 400);
  }
}
