export const crypto: Crypto | undefined;
