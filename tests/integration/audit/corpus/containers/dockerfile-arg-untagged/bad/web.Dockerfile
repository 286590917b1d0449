ARG NODE=node
FROM ${NODE} AS build
WORKDIR /src
COPY . .
RUN npm ci && npm run build
USER node

FROM nginxinc/nginx-unprivileged:1.27.0-alpine
COPY --from=build /src/dist /usr/share/nginx/html
HEALTHCHECK CMD wget -qO- http://127.0.0.1:8080/ || exit 1
USER 101
