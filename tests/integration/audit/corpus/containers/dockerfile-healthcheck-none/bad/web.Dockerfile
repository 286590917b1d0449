ARG NODE=node:20.15.1-bookworm-slim
FROM ${NODE} AS build
WORKDIR /src
COPY . .
RUN npm ci && npm run build
USER node

FROM nginxinc/nginx-unprivileged:1.27.0-alpine
COPY --from=build /src/dist /usr/share/nginx/html
HEALTHCHECK NONE
USER 101
